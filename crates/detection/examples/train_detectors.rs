//! Trains the four detector families (`common_weakness_detection::detector`) on scenes made
//! from the Fashion-MNIST training split and writes `data/detectors/{name}.safetensors`,
//! printing each epoch's loss and the mAP at IoU 0.5 on scenes made from the test split.
//! Half the batches carry random occluders on their objects (cutout augmentation,
//! `occluded_batch`).
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh     # the full splits
//! cargo run --release -p common-weakness-detection --example train_detectors -- [--families all|NAME,NAME] [--epochs N] [--scenes N]
//! ```
//!
//! Seeded: family `i` of `Family::ALL` uses seed `i + 1` for its weights and batch order, the
//! training scenes are scenes `0..scenes` of seed 1 and the evaluation scenes scenes
//! `0..evaluation_scenes` of seed 2 (the experiment's test scenes).

use std::time::Instant;

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Tensor, TensorData};
use common_weakness::backend::BackendKind;
use common_weakness::rng::AttackRng;
use common_weakness_detection::dataset::SceneSet;
use common_weakness_detection::detector::{
    detect, save_net, AnchorNet, DetectorNet, Family, GridNet, HeatmapNet, PerPixelNet, INPUT_SIZE, WEIGHTS_DIR,
};
use common_weakness_detection::scene::{Items, SceneConfig};
use common_weakness_detection::GroundTruth;
use common_weakness_models::datasets::FashionMnist;

type Error = Box<dyn std::error::Error>;

/// Seed of the training scenes.
const TRAIN_SEED: u64 = 1;
/// Seed of the test scenes (evaluation and the patch experiment).
const TEST_SEED: u64 = 2;

/// Trains the detector families and writes their weights as safetensors.
#[derive(clap::Parser, Debug)]
struct Options {
    /// The families to train: `all` or a comma-separated list (yolo-grid, ssd-anchors,
    /// centernet-heatmap, fcos-per-pixel).
    #[arg(long, default_value = "all", value_parser = parse_families)]
    families: Families,
    /// Passes over the training scenes.
    #[arg(long, default_value_t = 16)]
    epochs: usize,
    /// Training scenes (from the Fashion-MNIST training split).
    #[arg(long, default_value_t = 4000)]
    scenes: usize,
    /// Scenes per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Adam's initial learning rate, decayed along a cosine to a twentieth of it.
    #[arg(long, default_value_t = 2e-3)]
    learning_rate: f64,
    /// Test scenes the mAP is measured on after each epoch.
    #[arg(long, default_value_t = 200)]
    evaluation_scenes: usize,
    /// Where to write `{name}.safetensors`.
    #[arg(long, default_value = WEIGHTS_DIR)]
    out: std::path::PathBuf,
}

/// The families to train, as parsed from `--families`.
#[derive(Clone, Debug)]
struct Families(Vec<Family>);

fn parse_families(value: &str) -> Result<Families, String> {
    if value == "all" {
        return Ok(Families(Family::ALL.to_vec()));
    }
    let names = Family::ALL.map(Family::name).join(", ");
    let parse = |n: &str| Family::from_name(n.trim()).ok_or(format!("unknown family `{n}`; there are {names}"));
    Ok(Families(value.split(',').map(parse).collect::<Result<_, _>>()?))
}

fn train<N: DetectorNet + Module>(
    family: Family,
    seed: u64,
    options: &Options,
    train: &SceneSet,
    test: &SceneSet,
) -> Result<(), Error> {
    let device = BackendKind::default().device()?;
    device.seed(seed);
    let mut net = N::init(&device);
    let mut optimizer = AdamConfig::new().with_grad_clipping(Some(GradientClippingConfig::Norm(10.0))).init();
    let mut rng = AttackRng::new(seed);
    let started = Instant::now();
    println!("{family}: {} parameters", net.num_params());
    let steps_per_epoch = train.len().div_ceil(options.batch);
    let total_steps = (options.epochs * steps_per_epoch) as f64;
    for epoch in 1..=options.epochs {
        let order = rng.permutation(train.len());
        let mut total = 0.0;
        for (step, indices) in order.chunks(options.batch).enumerate() {
            let progress = ((epoch - 1) * steps_per_epoch + step) as f64 / total_steps;
            let rate = options.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let (images, truth) = occluded_batch(train, indices, &mut rng, &device);
            let loss = N::loss(net.forward(images), &truth);
            let value = loss.clone().into_scalar::<f64>();
            if !value.is_finite() {
                return Err(format!("{family}: the loss is {value} at epoch {epoch}, step {step}").into());
            }
            total += value;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(rate, net, grads);
            if step % 20 == 19 {
                eprint!(
                    "\r  epoch {epoch}: batch {}/{steps_per_epoch}, loss {:.4}   ",
                    step + 1,
                    total / (step + 1) as f64
                );
            }
        }
        eprintln!();
        let frozen = net.clone().no_grad();
        println!(
            "  epoch {epoch}: loss {:.4}, test mAP@0.5 {:.3}, {:.0} s",
            total / steps_per_epoch as f64,
            test.mean_average_precision(&device, |images| detect(&frozen, images))?,
            started.elapsed().as_secs_f64()
        );
    }
    let path = options.out.join(format!("{}.safetensors", family.name()));
    save_net(&net, &path)?;
    println!("  wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The scenes at `indices` as a batch, with cutout augmentation, so that the detectors shrug
/// off an occluder where the attack will put its patch (as real detectors shrug off a grey or
/// random patch on a person): half the batches get, on every object, a square of one random
/// grey level or of uniform noise, its side 0.1–0.3 of the box diagonal (drawn per batch),
/// centred on the box.
fn occluded_batch(
    set: &SceneSet,
    indices: &[usize],
    rng: &mut AttackRng,
    device: &burn::tensor::Device,
) -> (Tensor<4>, Vec<Vec<GroundTruth>>) {
    let occlude = rng.unit() < 0.5;
    let (relative_scale, grey, level) = (0.1 + 0.2 * rng.unit(), rng.unit() < 0.5, rng.unit());
    let size = INPUT_SIZE;
    let mut pixels = Vec::with_capacity(indices.len() * 3 * size * size);
    let mut truth = Vec::with_capacity(indices.len());
    for &i in indices {
        let scene = &set.scenes()[i];
        let mut image = scene.pixels.clone();
        for object in scene.objects.iter().filter(|_| occlude) {
            let b = object.bbox;
            let half = relative_scale * b.width().hypot(b.height()) / 2.0;
            let (cx, cy) = ((b.x_min + b.x_max) / 2.0, (b.y_min + b.y_max) / 2.0);
            let span = |c: f32| (c - half).max(0.0) as usize..((c + half) as usize).min(size);
            for y in span(cy) {
                for x in span(cx) {
                    for c in 0..3 {
                        image[(c * size + y) * size + x] = if grey { level } else { rng.unit() };
                    }
                }
            }
        }
        pixels.extend(image);
        truth.push(scene.objects.clone());
    }
    (Tensor::from_data(TensorData::new(pixels, [indices.len(), 3, size, size]), device), truth)
}

fn main() -> Result<(), Error> {
    let options = <Options as clap::Parser>::parse();
    let config = SceneConfig::default();
    let started = Instant::now();
    let train_items = Items::fashion_mnist(&FashionMnist::train()?)?;
    let test_items = Items::fashion_mnist(&FashionMnist::test_slice()?)?;
    let train_set = SceneSet::generate(&config, &train_items, TRAIN_SEED, 0, options.scenes)?;
    let test_set = SceneSet::generate(&config, &test_items, TEST_SEED, 0, options.evaluation_scenes)?;
    println!(
        "{} training scenes, {} test scenes, generated in {:.0} s",
        train_set.len(),
        test_set.len(),
        started.elapsed().as_secs_f64()
    );
    for &family in &options.families.0 {
        let seed = Family::ALL.iter().position(|&f| f == family).expect("a family") as u64 + 1;
        match family {
            Family::Grid => train::<GridNet>(family, seed, &options, &train_set, &test_set)?,
            Family::Anchors => train::<AnchorNet>(family, seed, &options, &train_set, &test_set)?,
            Family::Heatmap => train::<HeatmapNet>(family, seed, &options, &train_set, &test_set)?,
            Family::PerPixel => train::<PerPixelNet>(family, seed, &options, &train_set, &test_set)?,
        }
    }
    Ok(())
}
