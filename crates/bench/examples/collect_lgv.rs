//! Collects LGV weight snapshots (Gubri et al., ECCV 2022) around committed zoo models: from the
//! trained weights, SGD at a high constant learning rate over the Fashion-MNIST training split,
//! saving `--per-epoch` snapshots per epoch as `{model}-lgv-NN.safetensors` in `--out`, which
//! `ZooModel::load_lgv` (and `transfer_table --lgv`) read.
//!
//! ```text
//! scripts/fetch-fashion-mnist.sh               # the 60,000 training images
//! cargo run --release --example collect_lgv -- [--models resnet] [--epochs 10] [--per-epoch 4] [--learning-rate 0.01] [--out DIR]
//! ```
//!
//! The defaults are the paper's (10 epochs, 4 snapshots per epoch: 40; momentum 0.9, weight
//! decay 10⁻⁴; batch 128 here) but for the learning rate: the paper's 0.05, set for a
//! ResNet-50 with batch norm, diverges on the zoo's ResNet, which has none, so the default is
//! 0.01. Seeded: the same run gives the same snapshots on the same backend and machine.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common_weakness::backend::BackendKind;
use common_weakness::rng::AttackRng;
use common_weakness_bench::Result;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::{
    lgv_snapshot_path, load_net, save_net, LargeKernelCnn, Mixer, Mlp, ResNet, SeparableCnn, SmallCnn, WideCnn,
    ZooModel, ZooNet,
};

const BATCH: usize = 128;

/// Collects LGV snapshots around zoo models.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Backend: flex, ndarray, tch, tch-cuda, wgpu, cuda (those built in).
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// The models (comma-separated zoo names).
    #[arg(long, value_delimiter = ',', default_value = "resnet", value_parser = parse_model)]
    models: Vec<ZooModel>,
    /// Epochs of SGD over the 60,000 training images.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
    epochs: u64,
    /// Snapshots saved per epoch, evenly spaced.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    per_epoch: u64,
    /// SGD's constant learning rate (the paper's 0.05 diverges on the zoo's ResNet).
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f64,
    /// Where to write the snapshots.
    #[arg(long, default_value_os_t = default_folder())]
    out: PathBuf,
}

/// `$HOME/.cache/common-weakness/lgv`.
fn default_folder() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/common-weakness/lgv")
}

fn parse_model(value: &str) -> std::result::Result<ZooModel, String> {
    let names = ZooModel::ALL.map(|m| m.name()).join(", ");
    ZooModel::from_name(value.trim()).ok_or(format!("unknown model `{value}`; the zoo has {names}"))
}

fn collect<N: ZooNet + Module + 'static>(
    model: ZooModel,
    options: &Options,
    train: &FashionMnist,
    device: &Device,
) -> Result<()> {
    if !(options.learning_rate.is_finite() && options.learning_rate > 0.0) {
        return Err(common_weakness::Error::InvalidParameter {
            name: "learning-rate",
            value: options.learning_rate,
            requirement: "finite and > 0",
        }
        .into());
    }
    let mut net = load_net::<N>(model.weights_path(), device)?;
    let mut optimizer = SgdConfig::new()
        .with_momentum(Some(MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false }))
        .with_weight_decay(Some(WeightDecayConfig { penalty: 1e-4 }))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut rng = AttackRng::new(0);
    let started = Instant::now();
    let batches = train.len().div_ceil(BATCH);
    let every = batches.div_ceil(options.per_epoch as usize);
    let mut saved = 0;
    std::fs::create_dir_all(&options.out)?;
    for epoch in 1..=options.epochs {
        let order = rng.permutation(train.len());
        let mut total = 0.0;
        for (step, indices) in order.chunks(BATCH).enumerate() {
            let (x, labels) = train.batch(indices, device)?;
            let targets = Tensor::<1, Int>::from_data(
                TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]),
                device,
            );
            let loss = loss_fn.forward(net.forward(x), targets);
            let value = loss.clone().into_scalar::<f64>();
            if !value.is_finite() {
                return Err(common_weakness::Error::InvalidParameter {
                    name: "learning-rate",
                    value: options.learning_rate,
                    requirement: "low enough for SGD to stay finite (the loss diverged): lower it",
                }
                .into());
            }
            total += value;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(options.learning_rate, net, grads);
            if (step + 1) % every == 0 || step + 1 == batches {
                saved += 1;
                save_net(&net, lgv_snapshot_path(&options.out, model, saved))?;
            }
        }
        println!(
            "{model} epoch {epoch}: loss {:.4}, {saved} snapshots, {:.0} s",
            total / batches as f64,
            started.elapsed().as_secs_f64()
        );
    }
    println!("{model}: {saved} snapshots in {}", options.out.display());
    Ok(())
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let train = FashionMnist::train()?;
    let device = options.backend.device()?;
    for &model in &options.models {
        match model {
            ZooModel::Mlp => collect::<Mlp>(model, &options, &train, &device)?,
            ZooModel::SmallCnn | ZooModel::AdversarialCnn => collect::<SmallCnn>(model, &options, &train, &device)?,
            ZooModel::WideCnn => collect::<WideCnn>(model, &options, &train, &device)?,
            ZooModel::ResNet => collect::<ResNet>(model, &options, &train, &device)?,
            ZooModel::Separable => collect::<SeparableCnn>(model, &options, &train, &device)?,
            ZooModel::LargeKernel | ZooModel::AdversarialLargeKernel => {
                collect::<LargeKernelCnn>(model, &options, &train, &device)?
            }
            ZooModel::Mixer => collect::<Mixer>(model, &options, &train, &device)?,
        }
    }
    Ok(())
}
