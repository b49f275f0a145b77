//! Trains the Fashion-MNIST zoo (`common_weakness_models::zoo`) on the official 60,000-image
//! training split with Adam and the ALRS scheduler, and writes
//! `crates/models/data/zoo/{name}.safetensors`. The adversarially trained models
//! (`cnn-small-adv`, `large-kernel-adv`) replace every batch by its PGD adversarial examples
//! (this crate's `pgd`, L∞ 0.1, 4 steps of 0.04 from a random start) against the current
//! weights (Madry et al. 2018).
//!
//! After training, each model's white-box robust accuracy is measured on the committed
//! 1,000-image test slice: PGD-20 at L∞ 0.1 (steps of 0.0125, random start).
//!
//! Each model has its own number of epochs over the 60,000 images and its own initial learning
//! rate (`recipe`; `docs/zoo.md` has the times); `--epochs`, `--learning-rate` and `--images`
//! override them for every model. `--backend tch` (LibTorch, built with `--features tch` in the
//! environment `scripts/setup-libtorch.sh` prints) trains about three times faster than the
//! default burn-flex.
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh               # apt-get install dataset-fashion-mnist
//! cargo run --release --example train_zoo -- [--models all|NAME,NAME] [--backend KIND] [--epochs N] [--learning-rate R] [--images N] [--out DIR]
//! ```
//!
//! Every run is seeded (model `i` of `zoo::ZooModel::ALL` uses seed `i + 1` for its weights
//! and batch order), so it reproduces the committed weights on the same backend, thread count
//! and machine word size.

use std::time::Instant;

use burn::lr_scheduler::LrScheduler as _;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common_weakness::attack::pgd;
use common_weakness::backend::BackendKind;
use common_weakness::eval::predictions;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::from_module;
use common_weakness_bench::Result;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::{
    save_net, LargeKernelCnn, Mixer, Mlp, ResNet, SeparableCnn, SmallCnn, WideCnn, ZooModel, ZooNet, WEIGHTS_DIR,
};
use common_weakness_models::Alrs;

const BATCH: usize = 128;
/// The L∞ budget of adversarial training and of the robust-accuracy check.
const ADVERSARIAL_BUDGET: f64 = 0.1;
/// PGD steps and step size of adversarial training.
const TRAINING_PGD: (usize, f64) = (4, 0.04);
/// PGD steps and step size of the robust-accuracy check.
const EVALUATION_PGD: (usize, f64) = (20, 0.0125);

/// Trains the Fashion-MNIST zoo and writes its weights as safetensors.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Backend: flex, ndarray, tch, tch-cuda, wgpu, cuda (those built in).
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// The models to train: `all` or a comma-separated list of zoo names (e.g. `mlp,resnet`).
    #[arg(long, default_value = "all", value_parser = parse_models)]
    models: Models,
    /// Epochs for every model (default: each model's own, see `recipe`).
    #[arg(long)]
    epochs: Option<usize>,
    /// Adam's initial learning rate for every model (default: each model's own, see `recipe`;
    /// ALRS lowers it when the loss stalls).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Training images per epoch for every model (default: all 60,000).
    #[arg(long)]
    images: Option<usize>,
    /// Where to write `{name}.safetensors`.
    #[arg(long, default_value = WEIGHTS_DIR)]
    out: std::path::PathBuf,
}

/// The models to train, as parsed from `--models`.
#[derive(Clone, Debug)]
struct Models(Vec<ZooModel>);

fn parse_models(value: &str) -> std::result::Result<Models, String> {
    if value == "all" {
        return Ok(Models(ZooModel::ALL.to_vec()));
    }
    let names = ZooModel::ALL.map(|m| m.name()).join(", ");
    let parse = |n: &str| ZooModel::from_name(n.trim()).ok_or(format!("unknown model `{n}`; the zoo has {names}"));
    Ok(Models(value.split(',').map(parse).collect::<std::result::Result<_, _>>()?))
}

/// How one model is trained by default.
struct Recipe {
    /// Passes over the 60,000 training images.
    epochs: usize,
    /// Adam's initial learning rate.
    learning_rate: f64,
}

/// Each model's default recipe: enough epochs to reach its family's usual accuracy on a
/// 2-core CPU in minutes, fewer for the adversarially trained models, whose every batch costs
/// a PGD attack. The three global-average-pooling networks, which have no normalisation
/// layer, learn slowly at 1e-3 and get 3e-3 (`docs/zoo.md`).
fn recipe(model: ZooModel) -> Recipe {
    let (epochs, learning_rate) = match model {
        ZooModel::Mlp => (20, 1e-3),
        ZooModel::SmallCnn => (10, 1e-3),
        ZooModel::LargeKernel => (8, 1e-3),
        ZooModel::Mixer => (6, 1e-3),
        ZooModel::AdversarialCnn | ZooModel::AdversarialLargeKernel => (5, 1e-3),
        ZooModel::WideCnn | ZooModel::ResNet => (15, 3e-3),
        ZooModel::Separable => (20, 3e-3),
    };
    Recipe { epochs, learning_rate }
}

fn accuracy<N: ZooNet>(net: &N, data: &FashionMnist, device: &Device) -> Result<f64> {
    let frozen = net.clone().no_grad();
    let mut correct = 0;
    for start in (0..data.len()).step_by(1000) {
        let indices: Vec<usize> = (start..(start + 1000).min(data.len())).collect();
        let (x, labels) = data.batch(&indices, device)?;
        let predicted = predictions(frozen.forward(x))?;
        correct += predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
    }
    Ok(correct as f64 / data.len() as f64)
}

fn train<N>(model: ZooModel, options: &Options, data: &Data, device: &Device) -> Result<()>
where
    N: ZooNet + Module + 'static,
{
    let Data { train, test } = data;
    // Model `i` of `ZooModel::ALL` is seeded with `i + 1` (weights and batch order).
    let seed = ZooModel::ALL.iter().position(|&m| m == model).expect("a zoo model") as u64 + 1;
    device.seed(seed);
    let mut net = N::init(device);
    let parameters = net.num_params();
    let mut optimizer = AdamConfig::new().init();
    let recipe = recipe(model);
    let mut scheduler = Alrs::new(options.learning_rate.unwrap_or(recipe.learning_rate))?;
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let adversarial = model.is_adversarially_trained();
    let mut rng = AttackRng::new(seed);
    let started = Instant::now();
    println!("{model}: {parameters} parameters{}", if adversarial { ", PGD adversarial training" } else { "" });
    let epochs = options.epochs.unwrap_or(recipe.epochs);
    let images = options.images.unwrap_or(train.len()).min(train.len());
    for epoch in 1..=epochs {
        let mut order = rng.permutation(train.len());
        order.truncate(images);
        let (mut total, mut batches) = (0.0, 0);
        for (step, indices) in order.chunks(BATCH).enumerate() {
            let (mut x, labels) = train.batch(indices, device)?;
            if adversarial {
                let current =
                    Ensemble::new(vec![Box::new(from_module("current", net.clone(), |n: &N, x| n.forward(x)))])?;
                let (steps, step_size) = TRAINING_PGD;
                let attack = pgd(ThreatModel::linf(ADVERSARIAL_BUDGET), steps, step_size, seed + step as u64);
                x = attack.run(&current, x, &Objective::untargeted(labels.clone()))?.adversarial;
            }
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]),
                device,
            );
            let loss = loss_fn.forward(net.forward(x), targets);
            total += loss.clone().into_scalar::<f64>();
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(scheduler.step(), net, grads);
            if step % 100 == 99 {
                eprint!(
                    "\r  epoch {epoch}: batch {}/{}, loss {:.4}   ",
                    step + 1,
                    order.len().div_ceil(BATCH),
                    total / batches as f64
                );
            }
        }
        let mean_loss = total / batches as f64;
        let rate = scheduler.end_epoch(mean_loss)?;
        eprintln!();
        println!(
            "  epoch {epoch}: loss {mean_loss:.4}, test accuracy {:.2}%, next learning rate {rate:.2e}, {:.0} s",
            100.0 * accuracy(&net, test, device)?,
            started.elapsed().as_secs_f64()
        );
    }
    let path = options.out.join(format!("{}.safetensors", model.name()));
    save_net(&net, &path)?;
    println!("  wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    let (clean, robust) = slice_accuracy(&net, device)?;
    println!(
        "  {model} on the test slice: clean {:.1}%, PGD-{} at {ADVERSARIAL_BUDGET} {:.1}% ({:.0} s)",
        100.0 * clean,
        EVALUATION_PGD.0,
        100.0 * robust,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Clean and white-box robust accuracy (PGD-20 at L∞ 0.1) on the committed 1,000-image test
/// slice.
fn slice_accuracy<N>(net: &N, device: &Device) -> Result<(f64, f64)>
where
    N: ZooNet + Module + 'static,
{
    let frozen = net.clone().no_grad();
    let surrogate = Ensemble::new(vec![Box::new(from_module("trained", frozen, |n: &N, x| n.forward(x)))])?;
    let (images, labels) = FashionMnist::test_slice()?.head(1000, device);
    let clean = predictions(surrogate.members()[0].forward(images.clone()))?;
    let (steps, step_size) = EVALUATION_PGD;
    let attack = pgd(ThreatModel::linf(ADVERSARIAL_BUDGET), steps, step_size, 0);
    let adversarial = attack.run(&surrogate, images, &Objective::untargeted(labels.clone()))?.adversarial;
    let robust = predictions(surrogate.members()[0].forward(adversarial))?;
    let fraction = |predicted: &[usize]| {
        predicted.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    };
    Ok((fraction(&clean), fraction(&robust)))
}

/// The training and test splits.
struct Data {
    train: FashionMnist,
    test: FashionMnist,
}

/// Trains every chosen model on `device`.
fn train_zoo(options: &Options, data: &Data, device: &Device) -> Result<()> {
    for &model in &options.models.0 {
        match model {
            ZooModel::Mlp => train::<Mlp>(model, options, data, device)?,
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => train::<SmallCnn>(model, options, data, device)?,
            ZooModel::WideCnn => train::<WideCnn>(model, options, data, device)?,
            ZooModel::ResNet => train::<ResNet>(model, options, data, device)?,
            ZooModel::Separable => train::<SeparableCnn>(model, options, data, device)?,
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                train::<LargeKernelCnn>(model, options, data, device)?
            }
            ZooModel::Mixer => train::<Mixer>(model, options, data, device)?,
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let data = Data { train: FashionMnist::train()?, test: FashionMnist::test()? };
    println!(
        "Fashion-MNIST: {} training and {} test images, backend {}",
        data.train.len(),
        data.test.len(),
        options.backend
    );
    train_zoo(&options, &data, &options.backend.device()?)
}
