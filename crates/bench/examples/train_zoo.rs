//! Trains the Fashion-MNIST zoo (`common_weakness::zoo`) on the official 60,000-image training
//! split with Adam and the ALRS scheduler, and writes `crates/models/data/zoo/{name}.safetensors`.
//! `cnn-small-adv` is trained adversarially: every batch is replaced by PGD adversarial
//! examples (this crate's `pgd`, L∞ 0.1, 2 steps of 0.06, random start) against the current
//! weights (Madry et al. 2018).
//!
//! Training is sized for a 2-core CPU (`--epochs` and `--images` override it for every model):
//! the MLP and the separable CNN see the 60,000 training images 3 times, the mixer twice,
//! `cnn-small`, `cnn-wide` and `resnet` once, and the large-kernel and adversarially trained
//! CNNs one pass over 24,000 of them (a seeded random subset, 188 batches of 128). About 40
//! minutes in all on 2 cores.
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
const LEARNING_RATE: f64 = 1e-3;
const ADVERSARIAL_BUDGET: f64 = 0.1;

/// Trains the Fashion-MNIST zoo and writes its weights as safetensors.
#[derive(clap::Parser, Debug)]
struct Options {
    /// The models to train: `all` or a comma-separated list of zoo names (e.g. `mlp,resnet`).
    #[arg(long, default_value = "all", value_parser = parse_models)]
    models: Models,
    /// Epochs for every model (default: each model's own schedule, see above).
    #[arg(long)]
    epochs: Option<usize>,
    /// Training images per epoch for every model (default: each model's own schedule).
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

/// The default epochs and training images per epoch of each model (see the header).
fn default_schedule(model: ZooModel) -> (usize, usize) {
    match model {
        ZooModel::Mlp | ZooModel::Separable => (3, 60_000),
        ZooModel::Mixer => (2, 60_000),
        ZooModel::SmallCnn | ZooModel::WideCnn | ZooModel::ResNet => (1, 60_000),
        _ => (1, 24_000),
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
    let mut scheduler = Alrs::new(LEARNING_RATE)?;
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let adversarial = model == ZooModel::AdversarialCnn;
    let mut rng = AttackRng::new(seed);
    let started = Instant::now();
    println!("{model}: {parameters} parameters{}", if adversarial { ", PGD adversarial training" } else { "" });
    let (epochs, images) = default_schedule(model);
    let (epochs, images) = (options.epochs.unwrap_or(epochs), options.images.unwrap_or(images).min(train.len()));
    for epoch in 1..=epochs {
        let mut order = rng.permutation(train.len());
        order.truncate(images);
        let (mut total, mut batches) = (0.0, 0);
        for (step, indices) in order.chunks(BATCH).enumerate() {
            let (mut x, labels) = train.batch::<Train>(indices, &device)?;
            if adversarial {
                let current =
                    Ensemble::new(vec![Box::new(from_module("current", net.clone(), |n: &N, x| n.forward(x)))])?;
                let attack = pgd(ThreatModel::linf(ADVERSARIAL_BUDGET), 2, 0.06, seed + step as u64);
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
    Ok(())
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
            ZooModel::LargeKernel => train::<LargeKernelCnn<Train>>(args.0, args.1, args.2, args.3, args.4)?,
            ZooModel::Mixer => train::<Mixer<Train>>(args.0, args.1, args.2, args.3, args.4)?,
        }
    }
    Ok(())
}
