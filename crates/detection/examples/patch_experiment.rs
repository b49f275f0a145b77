//! The paper's detection experiment (Table 2) at small scale: one universal patch, trained on
//! two detectors, pasted on every object of the test scenes, scored by the mAP of all four
//! detector families, the two surrogates and two it never saw.
//!
//! Patches (all `patch-size²` RGB, grey-initialised, placed on every object's box at
//! `relative-scale` of its diagonal with the library's default EOT, in training and in
//! evaluation alike; the loss is each detector's mean top-k confidence plus 2.5 · TV):
//! - controls: a grey patch and a uniform random-noise patch;
//! - Single: Adam on one surrogate alone (each surrogate in turn);
//! - Loss Ensemble: Adam on the mean loss of both surrogates;
//! - Adam-CWA: the reverse step, per-detector normalised inner steps and an outer Adam step;
//!   the inner step is swept as a ratio of the outer step (`--ratios`, the pixel RMS of one
//!   inner step over Adam's rate), the first ratio is the table's Adam-CWA.
//!
//! Writes to `--out`: `table.md` (the mAP table), `results.json`, `patches.png`,
//! `examples.png` (test scenes with an unseen detector's detections, clean and patched) and
//! `curves.svg` (each method's loss per epoch).
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh     # the full splits
//! cargo run --release -p common-weakness-detection --example patch_experiment -- --out docs/results/detection
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, Iterate};
use common_weakness::backend::BackendKind;
use common_weakness::observe::{Control, IterationRecord, Observer};
use common_weakness::optim::{Adam, Momentum, Sgd};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::universal::{Batch, Eot, Patch, Placement, Universal, UniversalVariable};
use common_weakness_detection::dataset::SceneSet;
use common_weakness_detection::detector::{Detector, Family};
use common_weakness_detection::scene::{Items, SceneConfig};
use common_weakness_detection::{mean_average_precision, Detection};
use common_weakness_models::datasets::FashionMnist;
use plotters::prelude::*;
use serde::Serialize;

type Error = Box<dyn std::error::Error>;

/// Seed of the test scenes (as in `train_detectors`).
const TEST_SEED: u64 = 2;
/// Seed of the patch-training scenes (training split, not the detectors' training scenes).
const PATCH_SEED: u64 = 3;
/// Seed of every attack, and of the evaluation's placements and EOT draws.
const SEED: u64 = 0;
/// T-SEA's total-variation weight.
const TV_WEIGHT: f64 = 2.5;
/// Adam's rate for every trained patch (T-SEA's 0.03).
const STEP_SIZE: f64 = 0.03;

/// Trains universal patches on two detectors and measures every detector's mAP under them.
#[derive(clap::Parser, Debug)]
struct Options {
    /// The two detectors the patches are trained on (the others are held out).
    #[arg(long, default_value = "yolo-grid,ssd-anchors", value_delimiter = ',')]
    surrogates: Vec<String>,
    /// Patch-training scenes (Fashion-MNIST training split).
    #[arg(long, default_value_t = 128)]
    patch_scenes: usize,
    /// Test scenes (Fashion-MNIST test split).
    #[arg(long, default_value_t = 200)]
    test_scenes: usize,
    /// Scenes per mini-batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Passes over the patch-training scenes.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// The patch's side in pixels (before it is scaled onto each box).
    #[arg(long, default_value_t = 32)]
    patch_size: usize,
    /// The patch's side over each box's diagonal.
    #[arg(long, default_value_t = 0.2)]
    relative_scale: f64,
    /// Candidates per image whose confidences are averaged in the loss.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Adam-CWA inner : outer step ratios to sweep; the first is the table's Adam-CWA.
    #[arg(long, default_value = "1,0.25,4", value_delimiter = ',')]
    ratios: Vec<f64>,
    /// Where the table, JSON and pictures go.
    #[arg(long, default_value = "detection-results")]
    out: PathBuf,
}

/// One row of the table: a patch and every detector's mAP under it.
#[derive(Serialize)]
struct Row {
    name: String,
    seconds: f64,
    /// mAP@0.5 per detector, in `Family::ALL` order.
    map: Vec<f64>,
    /// The mean objective of each epoch (empty for the controls).
    epoch_losses: Vec<f64>,
}

/// The test scenes, every detector, and the evaluation's fixed placements.
struct Evaluation {
    batches: Vec<Batch>,
    truth: Vec<Vec<common_weakness_detection::GroundTruth>>,
    detectors: Vec<Box<dyn Detector>>,
    variable: UniversalVariable,
}

impl Evaluation {
    /// Every detector's mAP@0.5 on the test scenes, with `patch` pasted on every object (the
    /// same placements and EOT draws for every patch), or clean.
    fn map(&self, patch: Option<&Tensor<4>>) -> Result<Vec<f64>, Error> {
        let detections = self.detections(patch)?;
        detections.iter().map(|d| Ok(mean_average_precision(&self.truth, d, 0.5)?)).collect()
    }

    /// Per detector, the detections of every test scene.
    fn detections(&self, patch: Option<&Tensor<4>>) -> Result<Vec<Vec<Vec<Detection>>>, Error> {
        let mut rng = AttackRng::new(SEED + 1);
        let mut all = vec![Vec::new(); self.detectors.len()];
        for batch in &self.batches {
            let images = self.paste(patch, batch, &mut rng)?;
            for (detector, out) in self.detectors.iter().zip(&mut all) {
                out.extend(detector.detect(images.clone())?);
            }
        }
        Ok(all)
    }

    fn paste(&self, patch: Option<&Tensor<4>>, batch: &Batch, rng: &mut AttackRng) -> Result<Tensor<4>, Error> {
        match patch {
            Some(p) => Ok(self.variable.apply_to(p.clone(), batch, rng)?.detach()),
            None => Ok(batch.images.clone()),
        }
    }
}

/// Prints one line per epoch: the mean objective of each surrogate.
struct EpochLine {
    name: String,
    steps_per_epoch: usize,
    sums: Vec<f64>,
    started: Instant,
}

impl Observer for EpochLine {
    fn observe(&mut self, record: &IterationRecord) -> Control {
        self.sums.resize(record.loss_per_model.len(), 0.0);
        for (sum, loss) in self.sums.iter_mut().zip(&record.loss_per_model) {
            *sum += loss;
        }
        if record.iteration.is_multiple_of(self.steps_per_epoch) {
            let means: Vec<String> =
                self.sums.iter().map(|s| format!("{:.4}", s / self.steps_per_epoch as f64)).collect();
            eprintln!(
                "  {} epoch {}: loss {} ({:.0} s)",
                self.name,
                record.iteration / self.steps_per_epoch,
                means.join(" / "),
                self.started.elapsed().as_secs_f64()
            );
            self.sums.iter_mut().for_each(|s| *s = 0.0);
        }
        Control::Continue
    }
}

fn main() -> Result<(), Error> {
    let options = <Options as clap::Parser>::parse();
    let started = Instant::now();
    std::fs::create_dir_all(&options.out)?;
    let device = BackendKind::default().device()?;
    let surrogate_families: Vec<Family> = options
        .surrogates
        .iter()
        .map(|n| Family::from_name(n).ok_or_else(|| format!("unknown detector `{n}`")))
        .collect::<Result<_, _>>()?;
    if surrogate_families.len() != 2 || surrogate_families[0] == surrogate_families[1] {
        return Err("--surrogates takes two different detectors".into());
    }
    let detectors: Vec<Box<dyn Detector>> = Family::ALL.iter().map(|f| f.load(&device)).collect::<Result<_, _>>()?;
    let config = SceneConfig::default();
    let train_items = Items::fashion_mnist(&FashionMnist::train()?)?;
    let test_items = Items::fashion_mnist(&FashionMnist::test_slice()?)?;
    let patch_set = SceneSet::generate(&config, &train_items, PATCH_SEED, 0, options.patch_scenes)?;
    let test_set = SceneSet::generate(&config, &test_items, TEST_SEED, 0, options.test_scenes)?;
    let training = patch_set.batches(options.batch, &device)?;
    let patch = Patch::new(
        options.patch_size,
        options.patch_size,
        Placement::OnBoxes { relative_scale: options.relative_scale },
    )
    .with_eot(Eot::default())
    .with_tv_weight(TV_WEIGHT);
    let variable = UniversalVariable::Patch(patch);
    let evaluation =
        Evaluation { batches: test_set.batches(25, &device)?, truth: test_set.ground_truth(), detectors, variable };
    println!(
        "{} patch-training scenes in {} batches, {} test scenes, {} objects; surrogates {}; {:.0} s",
        patch_set.len(),
        training.len(),
        test_set.len(),
        evaluation.truth.iter().map(Vec::len).sum::<usize>(),
        options.surrogates.join(" + "),
        started.elapsed().as_secs_f64()
    );

    let side = options.patch_size;
    let mut rows = vec![Row { name: "clean".into(), seconds: 0.0, map: evaluation.map(None)?, epoch_losses: vec![] }];
    print_row(&rows[0], &surrogate_families);
    let mut patches: Vec<(String, Tensor<4>)> = Vec::new();
    let controls = [
        ("grey patch", Tensor::full([1, 3, side, side], 0.5, &device)),
        ("random-noise patch", AttackRng::new(SEED).uniform([1, 3, side, side], 0.0, 1.0, &device)),
    ];
    for (name, p) in controls {
        rows.push(Row { name: name.into(), seconds: 0.0, map: evaluation.map(Some(&p))?, epoch_losses: vec![] });
        print_row(rows.last().expect("pushed"), &surrogate_families);
        patches.push((name.into(), p));
    }

    let trainer = Trainer {
        universal: Universal::new(variable, options.epochs),
        batches: training,
        top_k: options.top_k,
        evaluation: &evaluation,
        surrogates: &surrogate_families,
    };
    let surrogate =
        |f: Family| evaluation.detectors[Family::ALL.iter().position(|&g| g == f).expect("a family")].surrogate();
    let adam = || mi_fgsm(ThreatModel::linf(1.0), 1, 1.0).with_outer(Adam::new(STEP_SIZE));
    let mut record = |(row, patch): (Row, Tensor<4>)| {
        patches.push((row.name.clone(), patch));
        rows.push(row);
    };
    for &family in &surrogate_families {
        let single = Ensemble::new(vec![surrogate(family)])?;
        record(trainer.train(&adam().named(format!("Single ({family})")), &single)?);
    }
    let pair = Ensemble::new(surrogate_families.iter().map(|&f| surrogate(f)).collect())?;
    record(trainer.train(&adam().with_combination(Combination::LossMean).named("Loss Ensemble"), &pair)?);
    // The authors' published detection attacker: no reverse step, Adam-AMSGrad inner steps at
    // T-SEA's 0.03, an Adam outer step at 0.05.
    let authors = adam_cwa(1.0, side)
        .without_reverse()
        .with_inner(Adam { amsgrad: true, ..Adam::new(0.03) })
        .with_outer(Adam::new(0.05))
        .named("Adam-CSE (authors' code)");
    record(trainer.train(&authors, &pair)?);
    for (i, &ratio) in options.ratios.iter().enumerate() {
        let name = if i == 0 { "Adam-CWA".to_string() } else { format!("Adam-CWA (inner : outer {ratio})") };
        record(trainer.train(&adam_cwa(ratio, side).named(name), &pair)?);
    }

    let total = started.elapsed().as_secs_f64();
    let table = table(&rows, &surrogate_families, &options, total);
    println!("\n{table}");
    std::fs::write(options.out.join("table.md"), &table)?;
    std::fs::write(options.out.join("results.json"), serde_json::to_string_pretty(&rows)?)?;
    patch_strip(&patches, &options.out.join("patches.png"))?;
    curves(&rows, &options.out.join("curves.svg"))?;
    let adam_cwa_patch = &patches.iter().find(|(n, _)| n == "Adam-CWA").expect("trained").1;
    examples(&evaluation, adam_cwa_patch, &surrogate_families, &options.out.join("examples.png"))?;
    println!("wrote {} ({total:.0} s)", options.out.display());
    Ok(())
}

/// What every trained patch shares: the universal settings, the training batches, the loss,
/// and the evaluation.
struct Trainer<'a> {
    universal: Universal,
    batches: Vec<Batch>,
    top_k: usize,
    evaluation: &'a Evaluation,
    surrogates: &'a [Family],
}

impl Trainer<'_> {
    /// Trains a patch with `attack` on `ensemble` and scores it.
    fn train<A: Iterate>(&self, attack: &A, ensemble: &Ensemble) -> Result<(Row, Tensor<4>), Error> {
        let clock = Instant::now();
        let name = attack.name().to_string();
        let mut line =
            EpochLine { name: name.clone(), steps_per_epoch: self.batches.len(), sums: vec![], started: clock };
        let objective = |_: &Batch| Objective::confidence(self.top_k);
        let outcome = self.universal.train_observed(attack, ensemble, &self.batches, &objective, &mut line)?;
        let seconds = clock.elapsed().as_secs_f64();
        let map = self.evaluation.map(Some(&outcome.variable))?;
        let row = Row { name, seconds, map, epoch_losses: outcome.epoch_losses };
        print_row(&row, self.surrogates);
        Ok((row, outcome.variable))
    }
}

/// Adam-CWA for a `side²` RGB patch: Adam outer steps of [`STEP_SIZE`], the reverse step
/// 0.01 on the mean of the detectors' losses (their outputs differ in width, so there is no
/// logit ensemble), and inner steps (L2-normalised, momentum 1) whose pixel RMS is `ratio`
/// times the outer rate.
fn adam_cwa(ratio: f64, side: usize) -> Cwa<Sgd, Momentum, Adam> {
    let config = CwaConfig {
        step_size: STEP_SIZE,
        reverse_step_size: 0.01,
        inner_step_size: ratio * STEP_SIZE * ((3 * side * side) as f64).sqrt(),
        seed: SEED,
        ..CwaConfig::paper(16.0 / 255.0)
    };
    Cwa::adam_cwa(config).with_combination(Combination::LossMean)
}

/// The means of a row over the surrogates, the held-out detectors and all.
fn means(row: &Row, surrogates: &[Family]) -> [f64; 3] {
    let mean = |keep: &dyn Fn(Family) -> bool| {
        let values: Vec<f64> = Family::ALL.iter().zip(&row.map).filter(|(f, _)| keep(**f)).map(|(_, m)| *m).collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    [mean(&|f| surrogates.contains(&f)), mean(&|f| !surrogates.contains(&f)), mean(&|_| true)]
}

fn print_row(row: &Row, surrogates: &[Family]) {
    let cells: Vec<String> = Family::ALL.iter().zip(&row.map).map(|(f, m)| format!("{f} {:.1}", 100.0 * m)).collect();
    let [white, unseen, all] = means(row, surrogates);
    println!(
        "{}: mAP {} | white-box {:.1}, unseen {:.1}, all {:.1} ({:.0} s)",
        row.name,
        cells.join(", "),
        100.0 * white,
        100.0 * unseen,
        100.0 * all,
        row.seconds
    );
}

/// The Markdown table: mAP@0.5 (%) per detector, surrogates first, and the means.
fn table(rows: &[Row], surrogates: &[Family], options: &Options, seconds: f64) -> String {
    let order: Vec<usize> = (0..Family::ALL.len())
        .filter(|&i| surrogates.contains(&Family::ALL[i]))
        .chain((0..Family::ALL.len()).filter(|&i| !surrogates.contains(&Family::ALL[i])))
        .collect();
    let header: Vec<String> = order
        .iter()
        .map(|&i| {
            let f = Family::ALL[i];
            if surrogates.contains(&f) {
                format!("{f} (white-box)")
            } else {
                format!("{f} (unseen)")
            }
        })
        .collect();
    let mut out = format!(
        "mAP@0.5 (%) on {} test scenes with the patch on every object; {} patch-training scenes, {} epochs; \
         {:.0} s in all\n\n| patch | training (s) | {} | white-box mean | unseen mean | all mean |\n|---|---:|{}---:|---:|---:|\n",
        options.test_scenes,
        options.patch_scenes,
        options.epochs,
        seconds,
        header.join(" | "),
        "---:|".repeat(order.len())
    );
    for row in rows {
        let cells: Vec<String> = order.iter().map(|&i| format!("{:.1}", 100.0 * row.map[i])).collect();
        let [white, unseen, all] = means(row, surrogates);
        out += &format!(
            "| {} | {:.0} | {} | {:.1} | {:.1} | {:.1} |\n",
            row.name,
            row.seconds,
            cells.join(" | "),
            100.0 * white,
            100.0 * unseen,
            100.0 * all
        );
    }
    out
}

/// `[1, 3, h, w]` in `[0, 1]` as RGB bytes, row-major.
fn rgb(t: &Tensor<4>) -> Result<(usize, usize, Vec<u8>), Error> {
    let [_, _, h, w] = t.dims();
    let v: Vec<f32> =
        t.clone().clamp(0.0, 1.0).into_data().convert::<f32>().try_into_vec().map_err(|e| format!("{e:?}"))?;
    let mut bytes = Vec::with_capacity(3 * h * w);
    for i in 0..h * w {
        bytes.extend((0..3).map(|c| (v[c * h * w + i] * 255.0).round() as u8));
    }
    Ok((h, w, bytes))
}

/// Every patch side by side, enlarged 4×, in table order.
fn patch_strip(patches: &[(String, Tensor<4>)], path: &Path) -> Result<(), Error> {
    let (zoom, gap) = (4u32, 8u32);
    let [_, _, h, w] = patches[0].1.dims();
    let (ph, pw) = (h as u32 * zoom, w as u32 * zoom);
    let count = patches.len() as u32;
    let mut strip = image::RgbImage::from_pixel(count * (pw + gap) - gap, ph, image::Rgb([255; 3]));
    for (k, (_, p)) in patches.iter().enumerate() {
        let (_, _, bytes) = rgb(p)?;
        for y in 0..ph {
            for x in 0..pw {
                let i = 3 * ((y / zoom) as usize * w + (x / zoom) as usize);
                strip.put_pixel(k as u32 * (pw + gap) + x, y, image::Rgb([bytes[i], bytes[i + 1], bytes[i + 2]]));
            }
        }
    }
    strip.save(path)?;
    Ok(())
}

/// Each trained patch's mean objective per epoch.
fn curves(rows: &[Row], path: &Path) -> Result<(), Error> {
    let trained: Vec<&Row> = rows.iter().filter(|r| !r.epoch_losses.is_empty()).collect();
    let epochs = trained.iter().map(|r| r.epoch_losses.len()).max().unwrap_or(1);
    let top = trained.iter().flat_map(|r| r.epoch_losses.iter().copied()).fold(0.0f64, f64::max) * 1.05;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Patch training: mean objective (top-k confidence + TV) per epoch", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1f64..epochs as f64, 0f64..top.max(1e-3))?;
    chart.configure_mesh().x_desc("epoch").y_desc("objective").draw()?;
    for (k, row) in trained.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let points = row.epoch_losses.iter().enumerate().map(|(e, l)| (e as f64 + 1.0, *l));
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(row.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// The first four test scenes, clean (top) and with the Adam-CWA patch (bottom), with the
/// detections of the first held-out detector scoring at least 0.3 drawn (green) over the
/// objects' true boxes (red).
fn examples(evaluation: &Evaluation, patch: &Tensor<4>, surrogates: &[Family], path: &Path) -> Result<(), Error> {
    let shown = 4;
    let unseen = Family::ALL.iter().position(|f| !surrogates.contains(f)).expect("a held-out detector");
    let batch = &evaluation.batches[0];
    let mut rng = AttackRng::new(SEED + 1);
    let patched = evaluation.paste(Some(patch), batch, &mut rng)?;
    let size = batch.images.dims()[2] as u32;
    let gap = 4u32;
    let mut sheet =
        image::RgbImage::from_pixel(shown as u32 * (size + gap) - gap, 2 * size + gap, image::Rgb([255; 3]));
    for (row, images) in [batch.images.clone(), patched].into_iter().enumerate() {
        let images = images.slice(0..shown);
        let detections = evaluation.detectors[unseen].detect(images.clone())?;
        for (k, found) in detections.iter().enumerate() {
            let (h, w, bytes) = rgb(&images.clone().slice(k..k + 1))?;
            let (left, top) = (k as u32 * (size + gap), row as u32 * (size + gap));
            for y in 0..h {
                for x in 0..w {
                    let i = 3 * (y * w + x);
                    sheet.put_pixel(
                        left + x as u32,
                        top + y as u32,
                        image::Rgb([bytes[i], bytes[i + 1], bytes[i + 2]]),
                    );
                }
            }
            let truth = evaluation.truth[k].iter().map(|g| (g.bbox, [255, 0, 0]));
            let kept = found.iter().filter(|d| d.score >= 0.3).map(|d| (d.bbox, [0, 255, 0]));
            for (b, colour) in truth.chain(kept) {
                for (x, y) in b.outline(w, h) {
                    sheet.put_pixel(left + x as u32, top + y as u32, image::Rgb(colour));
                }
            }
        }
    }
    sheet.save(path)?;
    Ok(())
}
