//! The paper's transfer table on real data and real models: every attack of the crate against
//! the Fashion-MNIST zoo, plus the closeness and flatness measurements that explain it.
//!
//! - Surrogates (the ensemble attacked): `mlp`, `cnn-small`, `resnet`, `mixer` (four
//!   families). Held-out targets: `cnn-wide`, `separable`, `large-kernel`, the adversarially
//!   trained `cnn-small-adv`, and `cnn-wide` behind four input defences (bit depth 3, R&P,
//!   JPEG q75, randomized smoothing σ = 0.25 over 20 draws).
//! - Untargeted, L∞ budgets 16/255 (the paper's) and 32/255, 10 iterations, registry
//!   defaults (`examples/list_attacks.rs`), on the committed held-out test slice.
//! - Cells: attack success rate (%), over all images and over the images the target got right
//!   when clean; white-box rows are the mean over the four surrogates.
//! - Landscape (MI-FGSM, MI-SAM, MI-CSE, MI-CWA at 16/255): gradient cosine between the
//!   surrogates, distance to each undefended target's nearby optimum, sharpness and top Hessian
//!   eigenvalue of the ensemble loss, and 1-D loss curves toward each target's optimum.
//!
//! Writes `transfer-{16,32}.csv`, `results.json`, `transfer-16.svg` (bar chart),
//! `landscape.svg` (curves) and `tables.md` (markdown tables) to the output folder.
//!
//! ```text
//! cargo run --release --example transfer_table                  # 32 images, ~10 minutes on 2 cores
//! cargo run --release --example transfer_table -- --full        # all 1,000 images of the slice
//! cargo run --release --example transfer_table -- --images 200 --attacks MI-FGSM,MI-CWA --out docs/results
//! # The same run in two processes (or on two machines), then merged: identical tables.
//! cargo run --release --example transfer_table -- --images 200 --shard 1/2 --out shard-1
//! cargo run --release --example transfer_table -- --images 200 --shard 2/2 --out shard-2
//! cargo run --release --example transfer_table -- --merge shard-1,shard-2 --out merged
//! ```
//!
//! A shard writes its success counts; the landscape measurements need every image in one
//! process and run only unsharded.

mod chart;
mod landscape;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use common_weakness::attack::{registry, registry_at, AttackSpec, RapConfig};
use common_weakness::backend::DefaultBackend;
use common_weakness::eval::{predictions, success_rate, SuccessRate};
use common_weakness::prelude::*;
use common_weakness::surrogate::Surrogate;
use common_weakness_bench::defense::{BitDepth, Defended, Jpeg, RandomizedSmoothing, ResizePad, Target};
use common_weakness_bench::shard::{merge_folders, Mergeable, Shard, ShardFile};
use common_weakness_bench::Result;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::ZooModel;

type B = Autodiff<DefaultBackend>;

const SURROGATES: [ZooModel; 4] = [ZooModel::Mlp, ZooModel::SmallCnn, ZooModel::ResNet, ZooModel::Mixer];
const TARGETS: [ZooModel; 4] =
    [ZooModel::WideCnn, ZooModel::Separable, ZooModel::LargeKernel, ZooModel::AdversarialCnn];
const BUDGETS: [u32; 2] = [16, 32];
const SEED: u64 = 0;

/// The paper's transfer table and landscape measurements on the Fashion-MNIST zoo.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Images of the committed test slice to attack.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1000))]
    images: u16,
    /// All 1,000 images of the slice (same as `--images 1000`).
    #[arg(long, conflicts_with = "images")]
    full: bool,
    /// The attacks: `all` or a comma-separated list of registry names (case-insensitive).
    #[arg(long, default_value = "all", value_parser = parse_attacks)]
    attacks: AttackFilter,
    /// Skip the landscape measurements.
    #[arg(long)]
    no_landscape: bool,
    /// Attack only shard k of N equal parts of the images (e.g. `2/4`); merge the shards'
    /// output folders with `--merge`.
    #[arg(long, default_value = "1/1")]
    shard: Shard,
    /// Merge the output folders of the shards of one run (comma-separated) into `--out`,
    /// attacking nothing.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["images", "full", "attacks", "shard"])]
    merge: Vec<PathBuf>,
    /// The output folder.
    #[arg(long, default_value = "transfer-table")]
    out: PathBuf,
}

/// Lower-case attack names to run; `None` runs them all.
#[derive(Clone, Debug)]
struct AttackFilter(Option<Vec<String>>);

fn parse_attacks(value: &str) -> std::result::Result<AttackFilter, String> {
    if value == "all" {
        return Ok(AttackFilter(None));
    }
    let known: Vec<String> = registry().iter().map(|e| e.name.to_lowercase()).collect();
    let names: Vec<String> = value.split(',').map(|s| s.trim().to_lowercase()).collect();
    match names.iter().find(|n| !known.contains(n)) {
        Some(unknown) => Err(format!("unknown attack `{unknown}`; known: {}", known.join(", "))),
        None => Ok(AttackFilter(Some(names))),
    }
}

/// The attacks at one budget: the registry's defaults (RAP with 10 iterations like the rest,
/// rather than its paper's 400), filtered by `--attacks`.
fn attacks(budget: f64, filter: &Option<Vec<String>>) -> Vec<(String, AttackSpec)> {
    registry_at(ThreatModel::linf(budget))
        .into_iter()
        .filter(|e| filter.as_ref().is_none_or(|names| names.contains(&e.name.to_lowercase())))
        .map(|e| {
            let spec = match e.defaults {
                AttackSpec::Rap(config) => AttackSpec::Rap(RapConfig { iterations: 10, ..config }),
                spec => spec,
            };
            (e.name.to_string(), spec)
        })
        .collect()
}

/// One (budget, attack, row) cell of the table.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cell {
    budget: String,
    attack: String,
    row: String,
    success: SuccessRate,
    seconds: f64,
}

/// The cells of the shards add up: successes, images and seconds.
impl Mergeable for Cell {
    fn key(&self) -> String {
        format!("{} {} {}", self.budget, self.attack, self.row)
    }

    fn absorb(&mut self, other: Self) {
        self.success = self.success + other.success;
        self.seconds += other.seconds;
    }
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    if !options.merge.is_empty() {
        return merge_shards(&options.merge, &options.out);
    }
    let image_count = if options.full { 1000 } else { options.images.into() };
    let shard = options.shard;
    let indices: Vec<usize> = shard.range(image_count).collect();
    if indices.is_empty() {
        eprintln!("shard {shard} of {image_count} images holds no image: use fewer shards");
        std::process::exit(2);
    }
    let started = Instant::now();
    let device = Default::default();
    let (images, labels) = FashionMnist::test_slice()?.head::<B>(image_count, &device);
    let images = images.narrow(0, indices[0], indices.len());
    let labels = labels[indices[0]..indices[0] + indices.len()].to_vec();
    let surrogates: Vec<Box<dyn Surrogate<B>>> =
        SURROGATES.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
    let plain = |m: ZooModel| -> Result<Box<dyn Target<B>>> { Ok(Box::new(m.load::<B>(&device)?)) };
    let mut targets: Vec<Box<dyn Target<B>>> = TARGETS.iter().map(|&m| plain(m)).collect::<Result<_>>()?;
    let wide = || ZooModel::WideCnn.load::<B>(&device);
    targets.push(Box::new(Defended::new(wide()?, BitDepth::new(3)?, SEED)));
    targets.push(Box::new(Defended::new(wide()?, ResizePad::new(), SEED)));
    targets.push(Box::new(Defended::new(wide()?, Jpeg::new(75)?, SEED)));
    targets.push(Box::new(RandomizedSmoothing::new(wide()?, 0.25, 20, SEED)?));

    println!("Fashion-MNIST test slice: {} images (shard {shard}); clean accuracy", labels.len());
    let accuracy = |predicted: &[usize]| {
        predicted.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    };
    let clean_surrogates: Vec<Vec<usize>> =
        surrogates.iter().map(|s| predictions(s.forward(images.clone()))).collect::<common_weakness::Result<_>>()?;
    let clean_targets: Vec<Vec<usize>> =
        targets.iter().map(|t| t.predict_indexed(images.clone(), &indices)).collect::<Result<_>>()?;
    for (name, predicted) in surrogates.iter().map(|s| s.name().to_string()).zip(&clean_surrogates) {
        println!("  surrogate {name:<32} {:5.1}%", 100.0 * accuracy(predicted));
    }
    for (target, predicted) in targets.iter().zip(&clean_targets) {
        println!("  target    {:<32} {:5.1}%", target.target_name(), 100.0 * accuracy(predicted));
    }

    let ensemble = Ensemble::new(surrogates)?;
    let objective = Objective::untargeted(labels.clone());
    let mut cells = Vec::new();
    let mut adversarials: BTreeMap<String, Tensor<B, 4>> = BTreeMap::new();
    for budget in BUDGETS {
        let list = attacks(budget as f64 / 255.0, &options.attacks.0);
        println!("\nbudget {budget}/255: {} attacks", list.len());
        for (name, spec) in list {
            let timer = Instant::now();
            let adversarial = spec
                .build::<B>()
                .run_indexed(&ensemble, images.clone(), &objective, &indices, &mut Silent)?
                .adversarial;
            let seconds = timer.elapsed().as_secs_f64();
            let cell = |row: String, success| Cell {
                budget: format!("{budget}/255"),
                attack: name.clone(),
                row,
                success,
                seconds,
            };
            let mut white_box = Vec::new();
            for (surrogate, clean) in ensemble.members().iter().zip(&clean_surrogates) {
                let predicted = predictions(surrogate.forward(adversarial.clone()))?;
                white_box.push(success_rate(Goal::Untargeted, &labels, &labels, clean, &predicted)?);
            }
            cells.push(cell("white-box (mean of 4)".into(), white_box.iter().copied().sum()));
            let mut summary = Vec::new();
            for (target, clean) in targets.iter().zip(&clean_targets) {
                let predicted = target.predict_indexed(adversarial.clone(), &indices)?;
                let rate = success_rate(Goal::Untargeted, &labels, &labels, clean, &predicted)?;
                summary.push(format!("{:.0}", 100.0 * rate.over_all()));
                cells.push(cell(target.target_name().to_string(), rate));
            }
            println!(
                "  {name:<11} {:6.1} s  white-box {:5.1}%  targets {}  [{:.0} s elapsed]",
                seconds,
                100.0 * white_box.iter().copied().sum::<SuccessRate>().over_all(),
                summary.join(" "),
                started.elapsed().as_secs_f64()
            );
            if budget == BUDGETS[0] {
                adversarials.insert(name, adversarial);
            }
        }
    }

    let mut markdown = write_tables(&options.out, &ShardFile { shard, images: image_count, results: cells })?;
    if shard != Shard::WHOLE {
        println!("shard {shard}: no landscape measurements (they need every image in one process)");
    } else if !options.no_landscape {
        let chosen: Vec<(String, Tensor<B, 4>)> = ["MI-FGSM", "MI-SAM", "MI-CSE", "MI-CWA"]
            .iter()
            .filter_map(|name| adversarials.get(*name).map(|x| (name.to_string(), x.clone())))
            .collect();
        if !chosen.is_empty() {
            let target_models: Vec<Box<dyn Surrogate<B>>> =
                TARGETS.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
            let target_ensemble = Ensemble::new(target_models)?;
            markdown += &landscape::report(&ensemble, &target_ensemble, &objective, &images, &chosen, &options.out)?;
        }
    }
    std::fs::write(options.out.join("tables.md"), &markdown)?;
    println!("\n{markdown}");
    println!("wrote {} in {:.0} s", options.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Writes the CSV tables, the bar chart, `results.json` (the cells with their shard) and
/// returns the markdown tables.
fn write_tables(out: &std::path::Path, file: &ShardFile<Cell>) -> Result<String> {
    std::fs::create_dir_all(out)?;
    let cells = &file.results;
    let mut rows: Vec<String> = Vec::new();
    for cell in cells {
        if !rows.contains(&cell.row) {
            rows.push(cell.row.clone());
        }
    }
    let mut markdown = String::new();
    for budget in BUDGETS {
        let label = format!("{budget}/255");
        let selected: Vec<&Cell> = cells.iter().filter(|c| c.budget == label).collect();
        if selected.is_empty() {
            continue;
        }
        write_csv(&out.join(format!("transfer-{budget}.csv")), &selected)?;
        markdown += &markdown_table(&label, &rows, &selected);
        if budget == BUDGETS[0] {
            chart::bars(&out.join(format!("transfer-{budget}.svg")), &label, &rows[1..], &selected)?;
        }
    }
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(file)?)?;
    Ok(markdown)
}

/// `--merge`: the tables of a whole run from its shards' output folders.
fn merge_shards(folders: &[PathBuf], out: &std::path::Path) -> Result<()> {
    let markdown = write_tables(out, &merge_folders::<Cell>(folders)?)?;
    std::fs::write(out.join("tables.md"), &markdown)?;
    println!("{markdown}\nmerged {} shards into {}", folders.len(), out.display());
    Ok(())
}

fn write_csv(path: &std::path::Path, cells: &[&Cell]) -> Result<()> {
    let mut csv = String::from("budget,attack,row,success_all,success_clean_correct,images,clean_correct,seconds\n");
    for c in cells {
        writeln!(
            csv,
            "{},{},\"{}\",{:.4},{:.4},{},{},{:.2}",
            c.budget,
            c.attack,
            c.row,
            c.success.over_all(),
            c.success.over_clean_correct(),
            c.success.images,
            c.success.clean_correct,
            c.seconds
        )
        .expect("writing to a String");
    }
    Ok(std::fs::write(path, csv)?)
}

/// The attacks of `cells`, each once, in the order they ran.
fn attack_order<'a>(cells: &[&'a Cell]) -> Vec<&'a str> {
    let mut attacks: Vec<&str> = Vec::new();
    for c in cells {
        if !attacks.contains(&c.attack.as_str()) {
            attacks.push(&c.attack);
        }
    }
    attacks
}

/// Rows = targets, columns = attacks, cells "all / clean-correct" in %.
fn markdown_table(budget: &str, rows: &[String], cells: &[&Cell]) -> String {
    let attacks = attack_order(cells);
    let mut out = format!("\n### L∞ {budget}: success rate %, all images / clean-correct images\n\n| target |");
    for a in &attacks {
        out += &format!(" {a} |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(attacks.len());
    out += "\n";
    for row in rows {
        out += &format!("| {row} |");
        for a in &attacks {
            let cell = cells.iter().find(|c| &c.row == row && c.attack == *a).expect("every cell was computed");
            out +=
                &format!(" {:.0}/{:.0} |", 100.0 * cell.success.over_all(), 100.0 * cell.success.over_clean_correct());
        }
        out += "\n";
    }
    out += "| seconds per attack |";
    for a in &attacks {
        let cell = cells.iter().find(|c| c.attack == *a).expect("every attack has cells");
        out += &format!(" {:.0} |", cell.seconds);
    }
    out + "\n"
}
