//! Trains four small convolutional classifiers (different kernels, strides and widths) on a synthetic task, attacks three of
//! them (the surrogates) with every attack of the crate, and reports how well the
//! adversarial images fool the fourth model, which no attack ever sees.
//!
//! The task: 3×16×16 images of stripes in one of four orientations (horizontal, vertical,
//! diagonal, anti-diagonal) with random frequency, phase, tint and noise.
//!
//! ```text
//! cargo run --release --example transfer
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common_weakness::attack::{registry, AttackSpec, RapConfig};
use common_weakness::backend::BackendKind;
use common_weakness::eval::{predictions, success_rate};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_module, Surrogate};

const CLASSES: usize = 4;
const SIZE: usize = 16;
/// Stripe contrast: comparable to the 16/255 budget, so that attacks can succeed.
const AMPLITUDE: f32 = 0.15;

/// A classifier over 3×16×16 images.
trait Classify {
    fn forward(&self, x: Tensor<4>) -> Tensor<2>;
}

#[derive(Module, Debug)]
struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: AdaptiveAvgPool2d,
    output: Linear,
}

impl Cnn {
    fn new(width: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let padding = PaddingConfig2d::Explicit(kernel / 2, kernel / 2, kernel / 2, kernel / 2);
        Self {
            conv1: Conv2dConfig::new([3, width], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(padding.clone())
                .init(device),
            conv2: Conv2dConfig::new([width, 2 * width], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            output: LinearConfig::new(2 * width, CLASSES).init(device),
        }
    }
}

impl Classify for Cnn {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv2.forward(relu(self.conv1.forward(x))));
        self.output.forward(self.pool.forward(x).flatten(1, 3))
    }
}

/// Stripe images: class k sets the orientation.
fn dataset(seed: u64, count: usize, device: &Device) -> (Tensor<4>, Vec<usize>) {
    let mut rng = AttackRng::new(seed);
    let mut pixels = Vec::with_capacity(count * 3 * SIZE * SIZE);
    let labels: Vec<usize> = (0..count).map(|i| i % CLASSES).collect();
    for &label in &labels {
        let frequency = 0.12 + 0.15 * rng.unit();
        let phase = std::f32::consts::TAU * rng.unit();
        let tint: Vec<f32> = (0..3).map(|_| 0.5 + 0.5 * rng.unit()).collect();
        for channel_tint in &tint {
            for i in 0..SIZE {
                for j in 0..SIZE {
                    let (i, j) = (i as f32, j as f32);
                    let u = match label {
                        0 => i,
                        1 => j,
                        2 => (i + j) / std::f32::consts::SQRT_2,
                        _ => (i - j) / std::f32::consts::SQRT_2,
                    };
                    let wave = (std::f32::consts::TAU * frequency * u + phase).sin();
                    let noise = 0.2 * (rng.unit() - 0.5);
                    pixels.push((0.5 + AMPLITUDE * channel_tint * wave + noise).clamp(0.0, 1.0));
                }
            }
        }
    }
    (Tensor::from_data(TensorData::new(pixels, [count, 3, SIZE, SIZE]), device), labels)
}

fn train<M: Module + Classify>(mut model: M, x: &Tensor<4>, labels: &[usize]) -> M {
    let device = x.device();
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]),
        &device,
    );
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let batch = 100;
    for _epoch in 0..8 {
        for start in (0..labels.len()).step_by(batch) {
            let xb = x.clone().narrow(0, start, batch);
            let yb = targets.clone().narrow(0, start, batch);
            let grads = GradientsParams::from_grads(loss.forward(model.forward(xb), yb).backward(), &model);
            model = optimizer.step(3e-3, model, grads);
        }
    }
    model
}

fn boxed<M: Classify + Module + Sync + 'static>(name: &str, model: M) -> Box<dyn Surrogate> {
    Box::new(from_module(name.to_string(), model, |m: &M, x: Tensor<4>| m.forward(x)))
}

fn accuracy(model: &dyn Surrogate, x: Tensor<4>, labels: &[usize]) -> Result<f64> {
    let predicted = predictions(model.forward(x).detach())?;
    Ok(predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64)
}

fn main() -> Result<()> {
    let device = BackendKind::default().device()?;
    // Burn draws initial weights from its backend's global RNG: seed it so the run repeats.
    device.seed(1);
    let started = Instant::now();
    let (train_x, train_y) = dataset(1, 1200, &device);
    let (test_x, test_y) = dataset(2, 100, &device);

    eprintln!("training four CNNs on {} synthetic stripe images...", train_y.len());
    let zoo: Vec<Box<dyn Surrogate>> = vec![
        boxed("cnn-3x3", train(Cnn::new(8, 3, 1, &device), &train_x, &train_y)),
        boxed("cnn-7x7", train(Cnn::new(8, 7, 1, &device), &train_x, &train_y)),
        boxed("cnn-5x5-strided", train(Cnn::new(12, 5, 2, &device), &train_x, &train_y)),
        boxed("cnn-wide (target)", train(Cnn::new(24, 3, 1, &device), &train_x, &train_y)),
    ];
    println!("trained in {:.1} s; clean test accuracy:", started.elapsed().as_secs_f64());
    for model in &zoo {
        println!("  {:<18} {:.1}%", model.name(), 100.0 * accuracy(model.as_ref(), test_x.clone(), &test_y)?);
    }

    let mut zoo = zoo;
    let target = zoo.pop().expect("four models");
    let ensemble = Ensemble::new(zoo)?;
    // Every attack of the registry at its defaults (L∞ 16/255, 10 iterations; RAP too, rather
    // than its paper's 400), plus the reference flavour of MI-CWA.
    let mut attacks: Vec<(String, AttackSpec)> = registry()
        .into_iter()
        .map(|entry| match entry.defaults {
            AttackSpec::Rap(config) => {
                (entry.name.to_string(), AttackSpec::Rap(RapConfig { iterations: 10, ..config }))
            }
            spec => (entry.name.to_string(), spec),
        })
        .collect();
    attacks.push(("MI-CWA (reference)".into(), AttackSpec::MiCwa(CwaConfig::reference(16.0 / 255.0))));

    let objective = Objective::untargeted(test_y.clone());
    let clean_target = predictions(target.forward(test_x.clone()).detach())?;
    println!("\nuntargeted, L∞ budget 16/255, 10 iterations, {} test images", test_y.len());
    println!("{:<20} {:>22} {:>26} {:>10}", "attack", "surrogate accuracy", "target accuracy (transfer)", "time");
    for (name, spec) in &attacks {
        let attack = spec.build();
        let t = Instant::now();
        let outcome = attack.run(&ensemble, test_x.clone(), &objective)?;
        let seconds = t.elapsed().as_secs_f64();
        let accuracies: Vec<f64> = ensemble
            .members()
            .iter()
            .map(|m| accuracy(m.as_ref(), outcome.adversarial.clone(), &test_y))
            .collect::<Result<_>>()?;
        let white_box = accuracies.iter().sum::<f64>() / ensemble.len() as f64;
        let adversarial = predictions(target.forward(outcome.adversarial.clone()).detach())?;
        let transfer = success_rate(Goal::Untargeted, &test_y, &test_y, &clean_target, &adversarial)?;
        println!(
            "{:<20} {:>21.1}% {:>25.1}% {:>9.2}s",
            name,
            100.0 * white_box,
            100.0 * (1.0 - transfer.over_all()),
            seconds
        );
    }
    println!("\n(lower accuracy = stronger attack; the target is never seen by any attack)");
    Ok(())
}
