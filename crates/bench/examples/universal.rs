//! Universal attacks on real models (`docs/universal.md`).
//!
//! - `zoo`: one L∞ perturbation for every image, trained on the first 1,000 images of the
//!   Fashion-MNIST training split against the transfer table's four surrogates, and
//!   evaluated on the committed 1,000-image test slice, on the surrogates and on the four
//!   held-out models.
//!   Side by side: MI and Adam on the mean loss of the models (the loss ensemble), MI-CWA and
//!   Adam-CWA, and a random ±ε sign perturbation as a control.
//! - `patch`: one patch trained with random placement and EOT on 10 of the 20 foolbox photos
//!   against EfficientNet-Lite0 + Lite1, evaluated on the other 10 photos on the surrogates
//!   and on Lite2 (untargeted, or targeted to one class with `--target`). Side by side:
//!   Adam on the loss ensemble, MI-CWA, and Adam-CWA with Adam inner steps (the optimizers
//!   of the authors' detection code), and a grey and a random patch of the same size.
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh      # once, for `zoo`: the training split
//! cargo run --release --example universal -- zoo [--epochs 5] [--budget 32] [--out universal]
//! scripts/fetch-imagenet-assets.sh    # once, for `patch`
//! cargo run --release --example universal -- patch [--epochs 30] [--size 64] [--draws 8] [--target 368]
//! ```
//!
//! Each method prints a progress line per step (loss per model, time left) and its training
//! time; the program prints a Markdown table of error rates (untargeted) or target rates
//! (targeted) and writes contact sheets (clean | change × amplification | attacked) and the
//! trained perturbations and patches as PNG to the output folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, Iterate};
use common_weakness::backend::BackendKind;
use common_weakness::eval::predictions;
use common_weakness::optim::Adam;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::universal::{Batch, Eot, Patch, Placement, Universal, UniversalVariable};
use common_weakness_bench::{images, Result};
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::ZooModel;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};

/// Each training batch's objective.
type BatchObjective = dyn Fn(&Batch) -> Objective;

/// The transfer table's surrogates and held-out models.
const ZOO_SURROGATES: [ZooModel; 4] = [ZooModel::Mlp, ZooModel::SmallCnn, ZooModel::ResNet, ZooModel::Mixer];
const ZOO_HELD_OUT: [ZooModel; 4] =
    [ZooModel::WideCnn, ZooModel::Separable, ZooModel::LargeKernel, ZooModel::AdversarialCnn];
const SEED: u64 = 0;

/// Universal perturbations and patches against real models.
#[derive(clap::Parser, Debug)]
struct Options {
    /// `zoo` (universal L∞ perturbation, Fashion-MNIST) or `patch` (EfficientNet-Lite).
    #[arg(value_enum)]
    experiment: Experiment,
    /// Passes over the training images (default: 5 for `zoo`, 30 for `patch`).
    #[arg(long)]
    epochs: Option<usize>,
    /// `zoo`: the L∞ budget in 1/255.
    #[arg(long, default_value_t = 32)]
    budget: u32,
    /// `patch`: the patch side in pixels (the photos are 224 × 224).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// `patch`: random placements and EOT draws per evaluation photo.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    draws: u16,
    /// `patch`: an ImageNet class to target instead of the untargeted attack.
    #[arg(long)]
    target: Option<usize>,
    /// The output folder.
    #[arg(long, default_value = "universal")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
enum Experiment {
    Zoo,
    Patch,
}

/// The models a trained variable is evaluated on, and the evaluation images.
struct Evaluation<'a> {
    models: Vec<(String, &'a dyn Surrogate)>,
    images: Batch,
    /// True labels (untargeted) or the target (targeted).
    goal: (Goal, Vec<usize>),
    /// Random placements and EOT draws per image (1 for a perturbation, which has none).
    draws: usize,
}

impl Evaluation<'_> {
    /// Per model: the rate of error (untargeted) or of the target class (targeted) on the
    /// evaluation images with `v` applied, over `draws` placements of each image (the same
    /// draws for every method), and the first draw's images.
    fn rates(&self, variable: &UniversalVariable, v: Tensor<4>) -> Result<(Vec<f64>, Tensor<4>)> {
        let (goal, labels) = &self.goal;
        let mut rng = AttackRng::new(SEED + 1);
        let mut hits = vec![0usize; self.models.len()];
        let mut first = None;
        for _ in 0..self.draws {
            let attacked = variable.apply_to(v.clone(), &self.images, &mut rng)?.detach();
            for ((_, model), hits) in self.models.iter().zip(&mut hits) {
                let predicted = predictions(model.forward(attacked.clone()))?;
                *hits += predicted.iter().zip(labels).filter(|(p, l)| (p == l) == (*goal == Goal::Targeted)).count();
            }
            first.get_or_insert(attacked);
        }
        let total = (self.draws * labels.len()) as f64;
        let rates = hits.into_iter().map(|h| 100.0 * h as f64 / total).collect();
        Ok((rates, first.expect("at least one draw")))
    }
}

/// One row of the table: a method, its training time and its rates.
struct Row {
    name: String,
    seconds: f64,
    rates: Vec<f64>,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    std::fs::create_dir_all(&options.out)?;
    match options.experiment {
        Experiment::Zoo => zoo(&options),
        Experiment::Patch => patch(&options),
    }
}

/// Trains `variable` with `attack`, evaluates it and writes its pictures.
#[allow(clippy::too_many_arguments)]
fn train<A: Iterate>(
    attack: &A,
    universal: &Universal,
    ensemble: &Ensemble,
    batches: &[Batch],
    objective: &BatchObjective,
    evaluation: &Evaluation<'_>,
    out: &Path,
    amplify: f32,
) -> Result<Row> {
    let name = attack.name().to_string();
    let started = Instant::now();
    let mut progress = Progress::new(format!("{name}: "));
    let outcome = universal.train_observed(attack, ensemble, batches, objective, &mut progress)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{name}: trained in {seconds:.0} s; epoch losses {:?}", outcome.epoch_losses);
    let (rates, attacked) = evaluation.rates(&universal.variable, outcome.variable.clone())?;
    pictures(&name, &outcome.variable, &evaluation.images.images, &attacked, out, amplify)?;
    Ok(Row { name, seconds, rates })
}

/// A contact sheet of the first four evaluation images and the variable itself as a PNG.
fn pictures(
    name: &str,
    v: &Tensor<4>,
    clean: &Tensor<4>,
    attacked: &Tensor<4>,
    out: &Path,
    amplify: f32,
) -> Result<()> {
    let stem = name.to_lowercase().replace([' ', '(', ')'], "-").replace("--", "-");
    let stem = stem.trim_end_matches('-');
    // Grey images in RGB; small ones (Fashion-MNIST) enlarged 4× by repeating pixels.
    let rgb = |t: Tensor<4>| {
        let [n, c, h, w] = t.dims();
        let t = if c == 1 { t.repeat_dim(1, 3) } else { t };
        match h < 64 {
            true => t.reshape([n, 3, h, 1, w, 1]).repeat_dim(3, 4).repeat_dim(5, 4).reshape([n, 3, 4 * h, 4 * w]),
            false => t,
        }
    };
    let shown = clean.dims()[0].min(4);
    images::contact_sheet(
        &rgb(clean.clone().slice(0..shown)),
        &rgb(attacked.clone().slice(0..shown)),
        amplify,
        out.join(format!("{stem}-sheet.png")),
    )?;
    // A perturbation is shown as 0.5 + amplify·δ (±ε black and white); a patch as it is.
    let picture = if v.clone().min().into_scalar::<f32>() < 0.0 {
        v.clone().mul_scalar(amplify).add_scalar(0.5)
    } else {
        v.clone()
    };
    images::save_png(&rgb(picture.clamp(0.0, 1.0)), 0, out.join(format!("{stem}.png")))
}

fn table(title: &str, columns: &[String], held_out: usize, rows: &[Row]) {
    println!("\n{title}\n");
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    println!("| variable | training (s) | {} | held-out mean |", header.join(" | "));
    println!("|---|---:|{}---:|", "---:|".repeat(columns.len()));
    for row in rows {
        let cells: Vec<String> = row.rates.iter().map(|r| format!("{r:.1}")).collect();
        let tail = &row.rates[row.rates.len() - held_out..];
        let mean = tail.iter().sum::<f64>() / held_out as f64;
        println!("| {} | {:.0} | {} | {mean:.1} |", row.name, row.seconds, cells.join(" | "));
    }
}

fn zoo(options: &Options) -> Result<()> {
    let device = BackendKind::default().device()?;
    let epochs = options.epochs.unwrap_or(5);
    let budget = options.budget as f64 / 255.0;
    let (training, training_labels) = FashionMnist::train()?.head(1000, &device);
    let (test, test_labels) = FashionMnist::test_slice()?.head(1000, &device);
    let batches: Vec<Batch> = (0..20)
        .map(|i| {
            let rows = i * 50..(i + 1) * 50;
            Batch::labelled(training.clone().slice(rows.clone()), training_labels[rows].to_vec())
        })
        .collect();
    let surrogates = ZOO_SURROGATES.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
    let ensemble = Ensemble::new(surrogates)?;
    let held_out: Vec<_> =
        ZOO_HELD_OUT.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
    let mut models: Vec<(String, &dyn Surrogate)> =
        ensemble.members().iter().map(|m| (m.name().to_string(), m.as_ref())).collect();
    models.extend(held_out.iter().map(|m| (m.name().to_string(), m.as_ref())));
    let evaluation = Evaluation {
        models,
        images: Batch::labelled(test, test_labels.clone()),
        goal: (Goal::Untargeted, test_labels),
        draws: 1,
    };
    let objective = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap_or_default());
    let universal = Universal::new(UniversalVariable::Perturbation, epochs);
    let threat = ThreatModel::linf(budget);
    let config = CwaConfig::paper(budget);
    println!(
        "Fashion-MNIST: universal L∞ {}/255 perturbation, {epochs} epochs of 20 batches of 50 training \
         images; evaluated on the 1,000-image test slice",
        options.budget
    );

    let mut rows = vec![Row {
        name: "none (clean)".into(),
        seconds: 0.0,
        rates: evaluation.rates(&universal.variable, Tensor::zeros([1, 1, 28, 28], &device))?.0,
    }];
    let noise = AttackRng::new(SEED).uniform([1, 1, 28, 28], -1.0, 1.0, &device).sign().mul_scalar(budget);
    let (rates, attacked) = evaluation.rates(&universal.variable, noise.clone())?;
    pictures("random sign", &noise, &evaluation.images.images, &attacked, &options.out, (0.5 / budget) as f32)?;
    rows.push(Row { name: "random ±ε".into(), seconds: 0.0, rates });
    let amplify = (0.5 / budget) as f32;
    let loss_mean = mi_fgsm(threat, 10, 1.0).with_combination(Combination::LossMean);
    let mi = loss_mean.clone().named("MI (loss ensemble)");
    rows.push(train(&mi, &universal, &ensemble, &batches, &objective, &evaluation, &options.out, amplify)?);
    let adam = loss_mean.with_outer(Adam::new(config.step_size)).named("Adam (loss ensemble)");
    rows.push(train(&adam, &universal, &ensemble, &batches, &objective, &evaluation, &options.out, amplify)?);
    let mi_cwa = Cwa::mi_cwa(config.clone());
    rows.push(train(&mi_cwa, &universal, &ensemble, &batches, &objective, &evaluation, &options.out, amplify)?);
    let adam_cwa = Cwa::adam_cwa(config);
    rows.push(train(&adam_cwa, &universal, &ensemble, &batches, &objective, &evaluation, &options.out, amplify)?);

    let columns: Vec<String> = evaluation.models.iter().map(|(n, _)| n.clone()).collect();
    table(
        "Error rate % on the 1,000 test images (surrogates, then held-out models)",
        &columns,
        ZOO_HELD_OUT.len(),
        &rows,
    );
    Ok(())
}

fn patch(options: &Options) -> Result<()> {
    let device = BackendKind::default().device()?;
    let epochs = options.epochs.unwrap_or(30);
    let assets = ImagenetAssets::locate()?;
    let photos = assets.photos()?;
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let labels: Vec<usize> = photos.iter().map(|p| p.label).collect();
    let all: Tensor<4> = images::load(&paths, 224, 224, &device)?;
    // Even photos train, odd photos evaluate.
    let pick = |parity: usize| -> (Tensor<4>, Vec<usize>) {
        let indices: Vec<usize> = (0..photos.len()).filter(|i| i % 2 == parity).collect();
        let rows = indices.iter().map(|&i| all.clone().slice(i..i + 1)).collect();
        (Tensor::cat(rows, 0), indices.iter().map(|&i| labels[i]).collect())
    };
    let (train_images, train_labels) = pick(0);
    let (eval_images, eval_labels) = pick(1);
    let lite = |v: LiteVariant| -> Result<Box<dyn Surrogate>> {
        Ok(Box::new(EfficientNetLite::load(v, assets.weights(v), &device)?.into_surrogate()))
    };
    let ensemble = Ensemble::new(vec![lite(LiteVariant::Lite0)?, lite(LiteVariant::Lite1)?])?;
    let held_out = [lite(LiteVariant::Lite2)?];
    let mut models: Vec<(String, &dyn Surrogate)> =
        ensemble.members().iter().map(|m| (m.name().to_string(), m.as_ref())).collect();
    models.extend(held_out.iter().map(|m| (m.name().to_string(), m.as_ref())));

    let (goal, objective): (Goal, Box<BatchObjective>) = match options.target {
        None => (Goal::Untargeted, Box::new(|b: &Batch| Objective::untargeted(b.labels.clone().unwrap_or_default()))),
        Some(t) => (Goal::Targeted, Box::new(move |b: &Batch| Objective::targeted(vec![t; b.len()]))),
    };
    let eval_goal = match options.target {
        None => eval_labels.clone(),
        Some(t) => vec![t; eval_labels.len()],
    };
    let patch = Patch::new(options.size, options.size, Placement::Random).with_eot(Eot::default());
    let variable = UniversalVariable::Patch(patch);
    let images = Batch::labelled(eval_images, eval_labels);
    let evaluation = Evaluation { models, images, goal: (goal, eval_goal), draws: options.draws.into() };
    let batches: Vec<Batch> = (0..2)
        .map(|i| {
            Batch::labelled(train_images.clone().slice(i * 5..(i + 1) * 5), train_labels[i * 5..(i + 1) * 5].to_vec())
        })
        .collect();
    let universal = Universal::new(variable, epochs);
    println!(
        "EfficientNet-Lite0 + Lite1: a {0}x{0} patch ({1:.1}% of a 224x224 photo), random placement with EOT, \
         {epochs} epochs of 2 batches of 5 photos, evaluated on the 10 others ({2})",
        options.size,
        100.0 * (options.size * options.size) as f64 / (224.0 * 224.0),
        options.target.map_or("untargeted".to_string(), |t| format!("targeted to class {t}"))
    );
    // Patch step sizes: α = 0.03 (T-SEA's Adam rate), reverse 0.01, β scaled to the patch's
    // pixel count so an inner step moves a pixel as much as the outer one.
    let config = CwaConfig {
        step_size: 0.03,
        reverse_step_size: 0.01,
        inner_step_size: 0.03 * ((3 * options.size * options.size) as f64).sqrt(),
        seed: SEED,
        ..CwaConfig::paper(16.0 / 255.0)
    };
    // Adam-CWA with the optimizers of the authors' detection code: Adam-AMSGrad inner steps
    // (T-SEA's rate 0.03) and an Adam outer step (0.05), plus the paper's reverse step.
    let adam_cwa = Cwa::adam_cwa(config.clone())
        .with_inner(Adam { amsgrad: true, ..Adam::new(0.03) })
        .with_outer(Adam::new(0.05))
        .named("Adam-CWA (Adam inner)");
    let grey = Tensor::<4>::full([1, 3, options.size, options.size], 0.5, &device);
    let mut rows = vec![];
    let (rates, _) = evaluation.rates(&universal.variable, grey)?;
    rows.push(Row { name: "grey patch".into(), seconds: 0.0, rates });
    let random = AttackRng::new(SEED).uniform([1, 3, options.size, options.size], 0.0, 1.0, &device);
    let (rates, attacked) = evaluation.rates(&universal.variable, random.clone())?;
    pictures("random patch", &random, &evaluation.images.images, &attacked, &options.out, 1.0)?;
    rows.push(Row { name: "random patch".into(), seconds: 0.0, rates });
    let loss_ensemble = mi_fgsm(ThreatModel::linf(16.0 / 255.0), 10, 1.0)
        .with_combination(Combination::LossMean)
        .with_outer(Adam::new(config.step_size))
        .named("Adam (loss ensemble)");
    rows.push(train(&loss_ensemble, &universal, &ensemble, &batches, &*objective, &evaluation, &options.out, 1.0)?);
    let mi_cwa = Cwa::mi_cwa(config);
    rows.push(train(&mi_cwa, &universal, &ensemble, &batches, &*objective, &evaluation, &options.out, 1.0)?);
    rows.push(train(&adam_cwa, &universal, &ensemble, &batches, &*objective, &evaluation, &options.out, 1.0)?);

    let columns: Vec<String> = evaluation.models.iter().map(|(n, _)| n.clone()).collect();
    let what = if options.target.is_some() { "Target rate" } else { "Error rate" };
    let title =
        format!("{what} % on the 10 evaluation photos × {} placements (surrogates, then held-out)", options.draws);
    table(&title, &columns, 1, &rows);
    Ok(())
}
