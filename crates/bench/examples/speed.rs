//! The crate's side of the speed benchmark against PyTorch (`scripts/bench-speed.sh` runs it
//! on every backend next to `scripts/speed_reference.py` and prints the ratios).
//!
//! EfficientNet-Lite0 + Lite1 on the 20 foolbox photos at 224 × 224:
//! - one forward + backward pass per model (summed cross-entropy, input gradient);
//! - MI-FGSM on the logit-mean ensemble and MI-CWA (paper flavour), `--iterations` each: the
//!   median time of one iteration from the run's own records, and the per-run set-up (input
//!   checks, clean and final evaluations) apart;
//! - the overhead: one iteration over the passes it needs (MI-FGSM n, MI-CWA 2n).
//!
//! Prints one JSON object. `cargo run --release --example speed -- --backend flex`
//! (the assets come from `scripts/fetch-imagenet-assets.sh`).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Parser;
use common_weakness::attack::{mi_fgsm, Attack, Cwa, CwaConfig};
use common_weakness::backend::BackendKind;
use common_weakness::ensemble::Ensemble;
use common_weakness::objective::Objective;
use common_weakness::surrogate::Surrogate;
use common_weakness::threat::ThreatModel;
use common_weakness_bench::images;
use common_weakness_models::ImagenetAssets;
use common_weakness_models::{EfficientNetLite, LiteVariant};
use serde_json::json;

/// Times EfficientNet-Lite passes and attack iterations on one backend.
#[derive(Parser, Debug)]
struct Args {
    /// Backend: flex, ndarray, tch, tch-cuda, wgpu, cuda (those built in).
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// Attack iterations per timed run.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Timed forward + backward passes per model (after one warm-up).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// L∞ budget.
    #[arg(long, default_value_t = 16.0 / 255.0)]
    budget: f64,
}

/// The median as Python's `statistics.median` takes it (the mean of the two middle values of an
/// even count), so that both sides of the benchmark summarise their times the same way.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Times the passes and both attacks on `device`; the report as JSON.
fn speed(args: Args, device: Device) -> common_weakness_bench::Result<serde_json::Value> {
    let assets = ImagenetAssets::locate()?;
    let photos = assets.photos()?;
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let labels: Vec<usize> = photos.iter().map(|p| p.label).collect();
    let x = images::load(&paths, 224, 224, &device)?;
    let variants = [LiteVariant::Lite0, LiteVariant::Lite1];
    let mut models = Vec::new();
    for variant in variants {
        models.push(EfficientNetLite::load(variant, assets.weights(variant), &device)?.into_surrogate());
    }

    let one_hot: Vec<f32> = labels.iter().flat_map(|&l| (0..1000).map(move |c| f32::from(c == l))).collect();
    let one_hot = Tensor::<2>::from_data(TensorData::new(one_hot, [labels.len(), 1000]), &device);
    let mut pass_seconds = BTreeMap::new();
    for (variant, model) in variants.iter().zip(&models) {
        let pass = || {
            let started = Instant::now();
            let input = x.clone().detach().require_grad();
            let loss = (log_softmax(model.forward(input.clone()), 1) * one_hot.clone()).sum();
            let grad = input.grad(&loss.backward()).expect("the input gets a gradient");
            grad.into_data();
            started.elapsed().as_secs_f64()
        };
        pass();
        pass_seconds.insert(variant.name(), median((0..args.repeats).map(|_| pass()).collect()));
    }
    let passes: f64 = pass_seconds.values().sum();

    let ensemble = Ensemble::new(models.into_iter().map(|m| Box::new(m) as Box<_>).collect())?;
    let objective = Objective::untargeted(labels);
    let mut attacks = BTreeMap::new();
    let runs: [(&str, Box<dyn Attack>, f64); 2] = [
        ("mi_fgsm", Box::new(mi_fgsm(ThreatModel::linf(args.budget), args.iterations, 1.0)), 1.0),
        ("mi_cwa", Box::new(Cwa::mi_cwa(CwaConfig::paper(args.budget).with_iterations(args.iterations))), 2.0),
    ];
    for (name, attack, passes_per_iteration) in runs {
        let started = Instant::now();
        let outcome = attack.run(&ensemble, x.clone(), &objective)?;
        let total = started.elapsed().as_secs_f64();
        let iterations: Vec<f64> = outcome.records.iter().map(|r| r.seconds).collect();
        let iteration = median(iterations.clone());
        attacks.insert(
            name,
            json!({
                "iteration_seconds": iteration,
                "setup_seconds": total - iterations.iter().sum::<f64>(),
                "overhead": iteration / (passes_per_iteration * passes),
            }),
        );
    }
    Ok(json!({
        "backend": args.backend.name(),
        "images": x.dims()[0],
        "pass_seconds": pass_seconds,
        "attacks": attacks,
    }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = args.backend.device()?;
    let report = speed(args, device)?;
    println!("{report}");
    Ok(())
}
