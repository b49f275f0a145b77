//! The paper's transfer table on real data and real models: every attack of the crate against
//! the Fashion-MNIST zoo, with 95% intervals, paired tests, and the closeness and flatness
//! measurements that explain it.
//!
//! - Two ensemble shapes (`--ensemble`). `paper` (the default), shaped like the paper's:
//!   normally trained `mlp`, `cnn-small`, `resnet`, `mixer` (four families) plus the
//!   adversarially trained `cnn-small-adv`. `normal`: the four normal models alone, for
//!   comparison (`cnn-small-adv` then joins the held-out targets). Held-out in both:
//!   `cnn-wide`, `separable`, `large-kernel`, the adversarially trained `large-kernel-adv`,
//!   and `cnn-wide` behind four input defences (bit depth 3, R&P, JPEG q75, randomized
//!   smoothing σ = 0.25 over 20 draws). Attacks never see the held-out models.
//! - Untargeted, L∞ budgets 16/255 (the paper's) and 32/255, 10 iterations, registry
//!   defaults (`examples/list_attacks.rs`; RAP with 10 iterations), on the committed test
//!   slice. Attacks that draw random numbers run with seeds `0..--seeds` (3 by default). The
//!   images are split over `--threads` threads sharing the ensemble (per-image seeds: the same
//!   adversarial examples as one thread).
//! - Cells: success rate over all images with its 95% Wilson interval; MI-CWA against MI-FGSM
//!   and against the best method not from the paper, per held-out model, by McNemar's exact
//!   test; the margin of MI-CWA over MI-FGSM on normal and on adversarially trained held-out
//!   models, with an interval over images, beside the paper's.
//! - Landscape (MI-FGSM, MI-SAM, MI-CSE, MI-CWA at 16/255, every image): gradient cosine
//!   between the surrogates, distance to each undefended held-out model's nearby optimum and
//!   the loss drop to it, sharpness and top Hessian eigenvalue of the ensemble loss, each a
//!   mean with its interval and as a paired difference from MI-FGSM; 1-D loss curves.
//!
//! - Admix mixes in images of the slice's last 100 (`Objective::with_mixing_pool`).
//! - `--targeted` pushes image k of the slice toward the class `(y + 1 + k mod 9) mod 10` (every
//!   other class equally often, the same in any shard) and scores targeted success (the
//!   target predicted); `--loss logit` or `--loss po-trip` changes the loss of every attack,
//!   and `--iterations` the iterations of every attack (targeted transfer papers run 300).
//! - `--ghost` replaces the ResNet surrogate by its ghost network (`ghost::Ghost`: skip
//!   connections eroded anew every iteration, from the seed), `--lgv DIR` by its LGV snapshots
//!   (one drawn every iteration), `--mba DIR` by the Gaussian posterior fitted to them (one
//!   weight sample every iteration), so every attack runs its seeds.
//!   The landscape measurements run only on the default untargeted cross-entropy run.
//!
//! Writes `transfer-{16,32}.csv` (every seed), `results.json`, `transfer-16.svg` (bar chart),
//! `landscape.svg` (curves) and `tables.md` (markdown tables) to the output folder.
//!
//! ```text
//! cargo run --release --example transfer_table                    # 100 images, ~14 minutes on 2 cores
//! cargo run --release --example transfer_table -- --ensemble normal
//! cargo run --release --example transfer_table -- --full          # all 1,000 images of the slice
//! # LibTorch, about twice as fast on 2 cores (scripts/setup-libtorch.sh first; docs/results.md)
//! cargo run --release --features tch --example transfer_table -- --backend tch --full
//! cargo run --release --example transfer_table -- --images 200 --attacks MI-FGSM,MI-CWA --out docs/results
//! cargo run --release --example transfer_table -- --targeted --loss logit --iterations 300 --attacks MI-FGSM,MI-CWA
//! # The same run in two processes (or on two machines), then merged: identical tables.
//! cargo run --release --example transfer_table -- --images 200 --shard 1/2 --out shard-1
//! cargo run --release --example transfer_table -- --images 200 --shard 2/2 --out shard-2
//! cargo run --release --example transfer_table -- --merge shard-1,shard-2 --out merged
//! # More attacks on the same images later: one table with the attacks of both runs.
//! cargo run --release --example transfer_table -- --images 200 --attacks PGN,GRA --out more
//! cargo run --release --example transfer_table -- --combine merged,more --out all
//! # The same, where `more` ran on another machine: attacks both hold are kept from `merged`,
//! # and the tables list the images on which they differ.
//! cargo run --release --example transfer_table -- --combine merged,more --keep-first --out all
//! # Each attack with LGV snapshots against the same attack with the plain ResNet, paired by image.
//! cargo run --release --example transfer_table -- --combine lgv --against plain --out lgv-vs-plain
//! ```
//!
//! A shard writes its per-image outcomes; the landscape measurements need every image in one
//! process and run only unsharded.

mod chart;
mod landscape;
mod table;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use common_weakness::attack::{catalogue, catalogue_at, registry, registry_at, AttackConfig, AttackSpec, RapConfig};
use common_weakness::backend::BackendKind;
use common_weakness::eval::{predictions, success_rate, SuccessRate};
use common_weakness::objective::LossKind;
use common_weakness::prelude::*;
use common_weakness::surrogate::Surrogate;
use common_weakness_bench::defense::{BitDepth, Defended, Jpeg, RandomizedSmoothing, ResizePad, Target};
use common_weakness_bench::parallel::{attack_batches, share_cores, IndexedBatch};
use common_weakness_bench::shard::{combine_folders, merge_folders, Differing, Shard, ShardFile};
use common_weakness_bench::Result;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::{Posterior, ResNet, ZooModel};
use table::{outcome_string, Cell, RowKind};

const NORMAL_SURROGATES: [ZooModel; 4] = [ZooModel::Mlp, ZooModel::SmallCnn, ZooModel::ResNet, ZooModel::Mixer];
const HELD_OUT: [ZooModel; 4] =
    [ZooModel::WideCnn, ZooModel::Separable, ZooModel::LargeKernel, ZooModel::AdversarialLargeKernel];
const BUDGETS: [u32; 2] = [16, 32];
/// The seed of the defences' randomness.
const DEFENCE_SEED: u64 = 0;

/// Which surrogates the ensemble holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum EnsembleShape {
    /// Four normally trained families plus the adversarially trained `cnn-small-adv`, as the
    /// paper mixes normal and robust surrogates.
    Paper,
    /// The four normally trained families alone.
    Normal,
}

impl EnsembleShape {
    /// The surrogates and the undefended held-out models.
    fn members(self) -> (Vec<ZooModel>, Vec<ZooModel>) {
        match self {
            EnsembleShape::Paper => ([&NORMAL_SURROGATES[..], &[ZooModel::AdversarialCnn]].concat(), HELD_OUT.to_vec()),
            EnsembleShape::Normal => {
                (NORMAL_SURROGATES.to_vec(), [&HELD_OUT[..], &[ZooModel::AdversarialCnn]].concat())
            }
        }
    }
}

/// The loss every attack minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LossChoice {
    /// Softmax cross-entropy (the paper's).
    CrossEntropy,
    /// The logit loss of Zhao et al. (NeurIPS 2021).
    Logit,
    /// Po+Trip of Li et al. (CVPR 2020), targeted only.
    PoTrip,
}

impl LossChoice {
    fn kind(self) -> LossKind {
        match self {
            LossChoice::CrossEntropy => LossKind::CrossEntropy,
            LossChoice::Logit => LossKind::Logit,
            LossChoice::PoTrip => LossKind::po_trip(),
        }
    }
}

/// The paper's transfer table and landscape measurements on the Fashion-MNIST zoo.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Images of the committed test slice to attack (the first ones).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
    images: u16,
    /// All 1,000 images of the slice (same as `--images 1000`).
    #[arg(long, conflicts_with = "images")]
    full: bool,
    /// The surrogates: `paper` (four normal families and one adversarially trained model) or
    /// `normal` (the four normal ones).
    #[arg(long, value_enum, default_value = "paper")]
    ensemble: EnsembleShape,
    /// Seeds of the attacks that draw random numbers (seeds 0, 1, …).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: u64,
    /// The attacks: `all` (the registry: the paper's table) or a comma-separated list of names
    /// from the registry or the catalogue (case-insensitive), e.g. `MI-FGSM,SI-MI-FGSM`.
    #[arg(long, default_value = "all", value_parser = parse_attacks)]
    attacks: AttackFilter,
    /// The backend: `flex` (default), `ndarray`, `tch` (LibTorch, built with `--features tch`
    /// after `scripts/setup-libtorch.sh`; the fastest on a CPU), `tch-cuda`, `wgpu`, `cuda`.
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// Threads attacking parts of the images at once (the same adversarial examples as one
    /// thread; default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip the landscape measurements.
    #[arg(long)]
    no_landscape: bool,
    /// Attack only shard k of N equal parts of the images (e.g. `2/4`); merge the shards'
    /// output folders with `--merge`.
    #[arg(long, default_value = "1/1")]
    shard: Shard,
    /// Merge the output folders of the shards of one run (comma-separated) into `--out`,
    /// attacking nothing.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["images", "full", "attacks", "shard", "seeds", "ensemble"])]
    merge: Vec<PathBuf>,
    /// Combine the output folders of runs of different attacks over the same images
    /// (comma-separated) into `--out`, one table with every attack, attacking nothing. An
    /// attack in several runs must have the same results in each (see `--keep-first`).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["images", "full", "attacks", "shard", "seeds", "ensemble", "merge"])]
    combine: Vec<PathBuf>,
    /// With `--combine`: also test every attack against the same attack in this output
    /// folder of a run over the same images with another setting (e.g. `--combine lgv
    /// --against plain`: LGV snapshots against the plain ResNet), paired by image.
    #[arg(long, requires = "combine")]
    against: Option<PathBuf>,
    /// With `--combine`: an attack whose results differ between the runs is kept from the
    /// first run that has it, and the tables list on how many images each differs, instead
    /// of refusing the runs. For runs made on different machines: LibTorch picks its kernels
    /// by CPU, and their rounding can change a few adversarial images.
    #[arg(long, requires = "combine")]
    keep_first: bool,
    /// Targeted: image k of the slice toward the class (y + 1 + k mod 9) mod 10, scored by
    /// targeted success.
    #[arg(long)]
    targeted: bool,
    /// The loss of every attack: `cross-entropy` (default), `logit`, `po-trip` (targeted).
    #[arg(long, value_enum, default_value = "cross-entropy")]
    loss: LossChoice,
    /// The iterations of every attack (default: the registry's, 10).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    iterations: Option<u64>,
    /// Replace the ResNet surrogate by its ghost network (Ghost, Li et al., AAAI 2020): its
    /// skip connections scaled by up to ±16%, drawn anew every iteration from the seed.
    #[arg(long, conflicts_with_all = ["lgv", "mba"])]
    ghost: bool,
    /// Replace the ResNet surrogate by its LGV snapshots in this folder (LGV, Gubri et al.,
    /// ECCV 2022; `collect_lgv` writes them), one drawn every iteration from the seed.
    #[arg(long, conflicts_with = "mba")]
    lgv: Option<PathBuf>,
    /// Replace the ResNet surrogate by the Gaussian posterior fitted to its LGV snapshots in
    /// this folder (MBA, Li et al., ICLR 2023; deviations × 1.5), one weight sample drawn every
    /// iteration from the seed.
    #[arg(long)]
    mba: Option<PathBuf>,
    /// The output folder.
    #[arg(long, default_value = "transfer-table")]
    out: PathBuf,
}

impl Options {
    /// The run's setting beyond the budget, for the tables' headings: empty for the default
    /// untargeted cross-entropy run at the registry's iterations.
    fn setting(&self) -> String {
        let mut parts = Vec::new();
        if self.targeted {
            parts.push("targeted".to_string());
        }
        if self.loss != LossChoice::CrossEntropy {
            parts.push(format!("{:?} loss", self.loss).to_lowercase());
        }
        if let Some(iterations) = self.iterations {
            parts.push(format!("{iterations} iterations"));
        }
        if self.ghost {
            parts.push("ghost ResNet".to_string());
        }
        if self.lgv.is_some() {
            parts.push("LGV ResNet".to_string());
        }
        if self.mba.is_some() {
            parts.push("MBA ResNet".to_string());
        }
        parts.iter().map(|p| format!(", {p}")).collect()
    }
}

/// The target class of image `index` of the slice, whose true class is `label`: every other of
/// the ten classes equally often, whatever the shard.
fn target_class(label: usize, index: usize) -> usize {
    (label + 1 + index % 9) % 10
}

/// Lower-case attack names to run; `None` runs them all.
#[derive(Clone, Debug)]
struct AttackFilter(Option<Vec<String>>);

fn parse_attacks(value: &str) -> std::result::Result<AttackFilter, String> {
    if value == "all" {
        return Ok(AttackFilter(None));
    }
    let known: Vec<String> = registry().iter().chain(&catalogue()).map(|e| e.name.to_lowercase()).collect();
    let names: Vec<String> = value.split(',').map(|s| s.trim().to_lowercase()).collect();
    match names.iter().find(|n| !known.contains(n)) {
        Some(unknown) => Err(format!("unknown attack `{unknown}`; known: {}", known.join(", "))),
        None => Ok(AttackFilter(Some(names))),
    }
}

/// The attacks at one budget: the registry's defaults (RAP with 10 iterations like the rest,
/// rather than its paper's 400), or those `--attacks` names from the registry and the
/// catalogue; with `iterations`, every attack runs that many (step sizes that follow the
/// iterations, such as MI-FGSM's ε/T, follow them).
fn attacks(budget: f64, filter: &Option<Vec<String>>, iterations: Option<u64>) -> Result<Vec<(String, AttackConfig)>> {
    let threat = ThreatModel::linf(budget);
    let entries = match filter {
        None => registry_at(threat),
        Some(names) => registry_at(threat)
            .into_iter()
            .chain(catalogue_at(threat))
            .filter(|e| names.contains(&e.name.to_lowercase()))
            .collect(),
    };
    entries
        .into_iter()
        .map(|e| {
            let mut spec = match e.defaults {
                AttackSpec::Rap(config) => AttackSpec::Rap(RapConfig { iterations: 10, ..config }),
                spec => spec,
            };
            if let Some(iterations) = iterations {
                spec = with_iterations(&spec, iterations)?;
            }
            Ok((e.name.to_string(), spec.config()))
        })
        .collect()
}

/// `spec` with `iterations` iterations, if it has an iteration count (FGSM has none).
fn with_iterations(spec: &AttackSpec, iterations: u64) -> Result<AttackSpec> {
    let mut json = serde_json::to_value(spec)?;
    if let Some(fields) = json.as_object_mut().filter(|fields| fields.contains_key("iterations")) {
        fields.insert("iterations".into(), iterations.into());
    }
    Ok(serde_json::from_value(json)?)
}

/// A held-out target with its row kind.
type Row = (Box<dyn Target>, RowKind);

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    if !options.merge.is_empty() {
        let done = format!("merged {} shards into {}", options.merge.len(), options.out.display());
        let merged = merge_folders(&options.merge)?;
        return write_joined(write_tables(&options.out, &merged)?, &merged, None, &options.out, &done);
    }
    if !options.combine.is_empty() {
        let done = format!("combined {} runs into {}", options.combine.len(), options.out.display());
        let against = match &options.against {
            Some(folder) => Some((folder.display().to_string(), ShardFile::load(folder)?)),
            None => None,
        };
        let differing = if options.keep_first { Differing::KeepFirst } else { Differing::Refuse };
        let combined = combine_folders(&options.combine, differing)?;
        let mut markdown = write_tables(&options.out, &combined.file)?;
        markdown += &table::differing(&combined.differing, &options.combine);
        return write_joined(markdown, &combined.file, against.as_ref(), &options.out, &done);
    }
    let backend = options.backend;
    run(options, backend.device()?)
}

/// The attacks, the tables and the landscape measurements on one backend.
fn run(options: Options, device: Device) -> Result<()> {
    let image_count = if options.full { 1000 } else { options.images.into() };
    let shard = options.shard;
    let indices: Vec<usize> = shard.range(image_count).collect();
    if indices.is_empty() {
        eprintln!("shard {shard} of {image_count} images holds no image: use fewer shards");
        std::process::exit(2);
    }
    let started = Instant::now();
    let slice = FashionMnist::test_slice()?;
    let (images, labels) = slice.head(image_count, &device);
    // Admix's mixing pool: the slice's last 100 images (outside the attacked ones unless the
    // run takes more than 900).
    let (pool, pool_labels) = slice.batch(&(900..1000).collect::<Vec<_>>(), &device)?;
    let images = images.narrow(0, indices[0], indices.len());
    let labels = labels[indices[0]..indices[0] + indices.len()].to_vec();
    let (surrogate_models, held_out) = options.ensemble.members();
    let load = |model: &ZooModel| -> common_weakness_models::Result<Box<dyn Surrogate>> {
        match (model, options.ghost, &options.lgv, &options.mba) {
            (ZooModel::ResNet, true, _, _) => model.load_ghost(&device),
            (ZooModel::ResNet, _, Some(folder), _) => model.load_lgv(folder, &device),
            (ZooModel::ResNet, _, _, Some(folder)) => model.load_mba(folder, &device, Posterior::<ResNet>::SCALE),
            _ => model.load(&device),
        }
    };
    let surrogates: Vec<Box<dyn Surrogate>> =
        surrogate_models.iter().map(load).collect::<common_weakness_models::Result<_>>()?;
    let mut rows: Vec<Row> = Vec::new();
    for &model in &held_out {
        let kind = if model.is_adversarially_trained() { RowKind::Robust } else { RowKind::Normal };
        rows.push((Box::new(model.load(&device)?), kind));
    }
    let wide = || ZooModel::WideCnn.load(&device);
    rows.push((Box::new(Defended::new(wide()?, BitDepth::new(3)?, DEFENCE_SEED)), RowKind::Defended));
    rows.push((Box::new(Defended::new(wide()?, ResizePad::new(), DEFENCE_SEED)), RowKind::Defended));
    rows.push((Box::new(Defended::new(wide()?, Jpeg::new(75)?, DEFENCE_SEED)), RowKind::Defended));
    rows.push((Box::new(RandomizedSmoothing::new(wide()?, 0.25, 20, DEFENCE_SEED)?), RowKind::Defended));

    println!(
        "Fashion-MNIST test slice: {} images (shard {shard}), {:?} ensemble, backend {}; clean accuracy",
        labels.len(),
        options.ensemble,
        options.backend
    );
    let accuracy = |predicted: &[usize]| {
        predicted.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    };
    let clean_surrogates: Vec<Vec<usize>> =
        surrogates.iter().map(|s| predictions(s.forward(images.clone()))).collect::<common_weakness::Result<_>>()?;
    let clean_rows: Vec<Vec<usize>> =
        rows.iter().map(|(t, _)| t.predict_indexed(images.clone(), &indices)).collect::<Result<_>>()?;
    for (name, predicted) in surrogates.iter().map(|s| s.name().to_string()).zip(&clean_surrogates) {
        println!("  surrogate {name:<32} {:5.1}%", 100.0 * accuracy(predicted));
    }
    for ((target, _), predicted) in rows.iter().zip(&clean_rows) {
        println!("  held out  {:<32} {:5.1}%", target.target_name(), 100.0 * accuracy(predicted));
    }

    let ensemble = Ensemble::new(surrogates)?;
    let (goal, aims) = match options.targeted {
        true => (Goal::Targeted, labels.iter().zip(&indices).map(|(&l, &k)| target_class(l, k)).collect()),
        false => (Goal::Untargeted, labels.clone()),
    };
    let score = |clean: &[usize], predicted: &[usize]| -> Result<(SuccessRate, String)> {
        let rate = success_rate(goal, &labels, &aims, clean, predicted)?;
        let succeeded = predicted.iter().zip(&aims).map(|(p, aim)| match goal {
            Goal::Targeted => p == aim,
            Goal::Untargeted => p != aim,
        });
        Ok((rate, outcome_string(succeeded)))
    };
    let loss = options.loss.kind();
    let objective = |batch: &IndexedBatch| {
        let objective = match goal {
            Goal::Untargeted => Objective::untargeted(batch.labels.clone()),
            Goal::Targeted => {
                let targets = batch.labels.iter().zip(&batch.indices).map(|(&l, &k)| target_class(l, k)).collect();
                Objective::targeted(targets).with_true_labels(batch.labels.clone())
            }
        };
        objective.with_loss(loss).with_mixing_pool(pool.clone(), pool_labels.clone())
    };
    if let Err(error) = objective(&IndexedBatch::split(images.clone(), &labels, &indices, 1)[0]).validate(labels.len())
    {
        eprintln!("--loss {:?} with this goal: {error}", options.loss);
        std::process::exit(2);
    }
    let setting = options.setting();
    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    share_cores(options.backend, threads);
    let batches = IndexedBatch::split(images.clone(), &labels, &indices, threads);
    let mut cells = Vec::new();
    let mut adversarials: Vec<(String, Tensor<4>)> = Vec::new();
    for budget in BUDGETS {
        let list = attacks(budget as f64 / 255.0, &options.attacks.0, options.iterations)?;
        println!("\nbudget {budget}/255{setting}: {} attacks", list.len());
        for (name, config) in list {
            let drawn = options.ghost || options.lgv.is_some() || options.mba.is_some();
            let seeds = if config.uses_randomness() || drawn { options.seeds } else { 1 };
            for seed in 0..seeds {
                let timer = Instant::now();
                let attack = config.clone().with_seed(seed).build();
                let adversarial =
                    Tensor::cat(attack_batches(attack.as_ref(), &ensemble, &batches, threads, &objective)?, 0);
                let seconds = timer.elapsed().as_secs_f64();
                let cell = |row: String, kind, (success, outcomes)| Cell {
                    budget: format!("{budget}/255{setting}"),
                    attack: name.clone(),
                    seed,
                    row,
                    kind,
                    success,
                    outcomes,
                    seconds,
                };
                let (mut pooled, mut pooled_outcomes) = (SuccessRate::default(), String::new());
                for (surrogate, clean) in ensemble.members().iter().zip(&clean_surrogates) {
                    let (rate, outcomes) = score(clean, &predictions(surrogate.forward(adversarial.clone()))?)?;
                    pooled = pooled + rate;
                    pooled_outcomes += &outcomes;
                }
                let white_box = format!("white-box (pool of {})", ensemble.len());
                cells.push(cell(white_box, RowKind::WhiteBox, (pooled, pooled_outcomes)));
                let mut summary = Vec::new();
                for ((target, kind), clean) in rows.iter().zip(&clean_rows) {
                    let scored = score(clean, &target.predict_indexed(adversarial.clone(), &indices)?)?;
                    summary.push(format!("{:.0}", 100.0 * scored.0.over_all()));
                    cells.push(cell(target.target_name().to_string(), *kind, scored));
                }
                println!(
                    "  {name:<11} seed {seed} {seconds:6.1} s  white-box {:5.1}%  held out {}  [{:.0} s elapsed]",
                    100.0 * pooled.over_all(),
                    summary.join(" "),
                    started.elapsed().as_secs_f64()
                );
                if budget == BUDGETS[0] && seed == 0 {
                    adversarials.push((name.clone(), adversarial));
                }
            }
        }
    }

    let file = ShardFile { shard, images: image_count, results: cells };
    let mut markdown = write_tables(&options.out, &file)?;
    if shard != Shard::WHOLE {
        println!("shard {shard}: no landscape measurements (they need every image in one process)");
    } else if !setting.is_empty() {
        println!("no landscape measurements: they measure the default untargeted cross-entropy run");
    } else if !options.no_landscape {
        let chosen: Vec<(String, Tensor<4>)> =
            adversarials.into_iter().filter(|(name, _)| landscape::METHODS.contains(&name.as_str())).collect();
        if !chosen.is_empty() {
            let target_models: Vec<Box<dyn Surrogate>> =
                held_out.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
            let target_ensemble = Ensemble::new(target_models)?;
            markdown += &landscape::report(&ensemble, &target_ensemble, &labels, &images, &chosen, &options.out)?;
        }
    }
    std::fs::write(options.out.join("tables.md"), &markdown)?;
    println!("\n{markdown}");
    println!("wrote {} in {:.0} s", options.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Writes the CSV tables, the bar chart, `results.json` (the cells with their shard) and
/// returns the markdown tables.
fn write_tables(out: &Path, file: &ShardFile<Cell>) -> Result<String> {
    std::fs::create_dir_all(out)?;
    let mut markdown = String::new();
    for (position, label) in budget_labels(file).into_iter().enumerate() {
        let budget = label.split('/').next().unwrap_or("budget");
        let selected: Vec<&Cell> = file.results.iter().filter(|c| c.budget == label).collect();
        table::write_csv(&out.join(format!("transfer-{budget}.csv")), &selected)?;
        let summaries = table::summarise(&selected);
        markdown += &table::success_table(label, &summaries)?;
        markdown += &table::paired_tests(label, &summaries)?;
        markdown += &table::base_tests(label, &summaries)?;
        markdown += &table::composition_tests(label, &summaries)?;
        markdown += &table::margins(label, &summaries)?;
        if position == 0 {
            chart::bars(&out.join(format!("transfer-{budget}.svg")), label, &summaries)?;
        }
    }
    file.save(out)?;
    Ok(markdown)
}

/// `--against`: for every budget of `file`, its attacks against the same attacks at the same
/// budget in the run `name` (`other`; its first setting with that budget).
fn against_tables(file: &ShardFile<Cell>, name: &str, other: &ShardFile<Cell>) -> Result<String> {
    file.check_same_images(other)?;
    let budget = |label: &str| label.split(',').next().unwrap_or(label).to_string();
    let mut markdown = String::new();
    for label in budget_labels(file) {
        let Some(other_label) = budget_labels(other).into_iter().find(|l| budget(l) == budget(label)) else {
            continue;
        };
        let mine: Vec<&Cell> = file.results.iter().filter(|c| c.budget == label).collect();
        let theirs: Vec<&Cell> = other.results.iter().filter(|c| c.budget == other_label).collect();
        markdown +=
            &table::against_tests(label, &table::summarise(&mine), name, other_label, &table::summarise(&theirs))?;
    }
    Ok(markdown)
}

/// The budgets' labels ("16/255", or with the run's setting), in the order they were run.
fn budget_labels(file: &ShardFile<Cell>) -> Vec<&str> {
    let mut labels: Vec<&str> = Vec::new();
    for cell in &file.results {
        if !labels.contains(&cell.budget.as_str()) {
            labels.push(&cell.budget);
        }
    }
    labels
}

/// `--merge` and `--combine`: the tables of output folders joined into one, `markdown` (their
/// tables) with the paired tests against another run.
fn write_joined(
    mut markdown: String,
    file: &ShardFile<Cell>,
    against: Option<&(String, ShardFile<Cell>)>,
    out: &Path,
    done: &str,
) -> Result<()> {
    if let Some((name, other)) = against {
        markdown += &against_tables(file, name, other)?;
    }
    std::fs::write(out.join("tables.md"), &markdown)?;
    println!("{markdown}\n{done}");
    Ok(())
}
