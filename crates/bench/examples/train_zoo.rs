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
//! Each model has its own number of epochs over the 60,000 images (`default_epochs`; about 90
//! minutes of CPU in all, 50 minutes on 2 cores as two processes, `docs/zoo.md`); `--epochs`
//! and `--images` override it for every model.
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh               # apt-get install dataset-fashion-mnist
//! cargo run --release --example train_zoo -- [--models all|NAME,NAME] [--epochs N] [--images N] [--out DIR]
//! ```
//!
//! Every run is seeded (model `i` of `zoo::ZooModel::ALL` uses seed `i + 1` for its weights
//! and batch order), so it reproduces the committed weights on the same backend and machine
//! word size.

use std::time::Instant;

use burn::backend::Autodiff;
use burn::lr_scheduler::LrScheduler as _;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer as _};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use common_weakness::attack::pgd;
use common_weakness::backend::DefaultBackend;
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

type Train = Autodiff<DefaultBackend>;

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
    /// The models to train: `all` or a comma-separated list of zoo names (e.g. `mlp,resnet`).
    #[arg(long, default_value = "all", value_parser = parse_models)]
    models: Models,
    /// Epochs for every model (default: each model's own, see `default_epochs`).
    #[arg(long)]
    epochs: Option<usize>,
    /// Adam's initial learning rate (ALRS lowers it when the loss stalls).
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
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

/// The default epochs over the 60,000 training images of each model, sized so that the
/// whole zoo trains in about 90 minutes of CPU (the slow global-average-pooling networks and
/// the adversarially trained ones get fewer).
fn default_epochs(model: ZooModel) -> usize {
    match model {
        ZooModel::Mlp => 20,
        ZooModel::SmallCnn | ZooModel::ResNet => 10,
        ZooModel::WideCnn | ZooModel::Separable | ZooModel::LargeKernel => 8,
        ZooModel::Mixer => 6,
        ZooModel::AdversarialCnn | ZooModel::AdversarialLargeKernel => 5,
    }
}

fn accuracy<N: ZooNet<Train>>(net: &N, data: &FashionMnist, device: &burn::tensor::Device<Train>) -> Result<f64> {
    let frozen = net.clone().no_grad();
    let mut correct = 0;
    for start in (0..data.len()).step_by(1000) {
        let indices: Vec<usize> = (start..(start + 1000).min(data.len())).collect();
        let (x, labels) = data.batch::<Train>(&indices, device)?;
        let predicted = predictions(frozen.forward(x))?;
        correct += predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
    }
    Ok(correct as f64 / data.len() as f64)
}

fn train<N: ZooNet<Train> + AutodiffModule<Train> + 'static>(
    model: ZooModel,
    seed: u64,
    options: &Options,
    train: &FashionMnist,
    test: &FashionMnist,
) -> Result<()> {
    let device = Default::default();
    <Train as Backend>::seed(&device, seed);
    let mut net = N::init(&device);
    let parameters = net.num_params();
    let mut optimizer = AdamConfig::new().init::<Train, N>();
    let mut scheduler = Alrs::new(options.learning_rate)?;
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let adversarial = model.is_adversarially_trained();
    let mut rng = AttackRng::new(seed);
    let started = Instant::now();
    println!("{model}: {parameters} parameters{}", if adversarial { ", PGD adversarial training" } else { "" });
    let epochs = options.epochs.unwrap_or(default_epochs(model));
    let images = options.images.unwrap_or(train.len()).min(train.len());
    for epoch in 1..=epochs {
        let mut order = rng.permutation(train.len());
        order.truncate(images);
        let (mut total, mut batches) = (0.0, 0);
        for (step, indices) in order.chunks(BATCH).enumerate() {
            let (mut x, labels) = train.batch::<Train>(indices, &device)?;
            if adversarial {
                let current =
                    Ensemble::new(vec![Box::new(from_module("current", net.clone(), |n: &N, x| n.forward(x)))])?;
                let (steps, step_size) = TRAINING_PGD;
                let attack = pgd(ThreatModel::linf(ADVERSARIAL_BUDGET), steps, step_size, seed + step as u64);
                x = attack.run(&current, x, &Objective::untargeted(labels.clone()))?.adversarial;
            }
            let targets = Tensor::<Train, 1, Int>::from_data(
                TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]),
                &device,
            );
            let loss = loss_fn.forward(net.forward(x), targets);
            total += loss.clone().into_scalar() as f64;
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
            100.0 * accuracy(&net, test, &device)?,
            started.elapsed().as_secs_f64()
        );
    }
    let path = options.out.join(format!("{}.safetensors", model.name()));
    save_net(&net, &path)?;
    println!("  wrote {} ({:.0} s)", path.display(), started.elapsed().as_secs_f64());
    let (clean, robust) = slice_accuracy(&net, &device)?;
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
fn slice_accuracy<N: ZooNet<Train> + AutodiffModule<Train> + 'static>(
    net: &N,
    device: &burn::tensor::Device<Train>,
) -> Result<(f64, f64)> {
    let frozen = net.clone().no_grad();
    let surrogate = Ensemble::new(vec![Box::new(from_module("trained", frozen, |n: &N, x| n.forward(x)))])?;
    let (images, labels) = FashionMnist::test_slice()?.head::<Train>(1000, device);
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

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let (train_split, test_split) = (FashionMnist::train()?, FashionMnist::test()?);
    println!("Fashion-MNIST: {} training and {} test images", train_split.len(), test_split.len());
    for &model in &options.models.0 {
        let seed = ZooModel::ALL.iter().position(|&m| m == model).expect("a zoo model") as u64 + 1;
        let args = (model, seed, &options, &train_split, &test_split);
        match model {
            ZooModel::Mlp => train::<Mlp<Train>>(args.0, args.1, args.2, args.3, args.4)?,
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => {
                train::<SmallCnn<Train>>(args.0, args.1, args.2, args.3, args.4)?
            }
            ZooModel::WideCnn => train::<WideCnn<Train>>(args.0, args.1, args.2, args.3, args.4)?,
            ZooModel::ResNet => train::<ResNet<Train>>(args.0, args.1, args.2, args.3, args.4)?,
            ZooModel::Separable => train::<SeparableCnn<Train>>(args.0, args.1, args.2, args.3, args.4)?,
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                train::<LargeKernelCnn<Train>>(args.0, args.1, args.2, args.3, args.4)?
            }
            ZooModel::Mixer => train::<Mixer<Train>>(args.0, args.1, args.2, args.3, args.4)?,
        }
    }
    Ok(())
}
