//! Peak memory of an ensemble gradient against the number of surrogates
//! (`scripts/bench-memory.sh` runs it for n = 1, 2, 4, 8 in both gradient modes).
//!
//! Builds an ensemble of `--models` copies of EfficientNet-Lite0 (clones sharing one set of
//! weights, so that the figure isolates the memory of the computation; `--separate-weights`
//! loads each copy from the file), runs one iteration of `--attack` (MI-FGSM: one combined
//! ensemble gradient; MI-CWA: that gradient for the reverse step, then one per model for the
//! inner steps) on the foolbox photos with the chosen [`GradientMode`], and prints the process's
//! peak resident memory (`VmHWM`) as JSON. Run one configuration per process: the peak is the
//! process's.
//!
//! `cargo run --release --example memory -- --models 4 --mode per-model`

use burn::tensor::Device;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use common_weakness::attack::{mi_fgsm, Attack, Cwa, CwaConfig};
use common_weakness::backend::BackendKind;
use common_weakness::ensemble::{Combination, Ensemble, GradientMode};
use common_weakness::objective::Objective;
use common_weakness::threat::ThreatModel;
use common_weakness_bench::images;
use common_weakness_models::ImagenetAssets;
use common_weakness_models::{EfficientNetLite, LiteVariant};
use serde_json::json;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Joint,
    PerModel,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AttackKind {
    MiFgsm,
    MiCwa,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Rule {
    LogitMean,
    LogitSum,
    LossMean,
}

/// Peak resident memory of one ensemble-gradient iteration.
#[derive(Parser, Debug)]
struct Args {
    /// Backend: flex, ndarray, tch, tch-cuda, wgpu, cuda (those built in).
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// The attack whose one iteration is measured.
    #[arg(long, value_enum, default_value_t = AttackKind::MiFgsm)]
    attack: AttackKind,
    /// Number of EfficientNet-Lite0 copies in the ensemble.
    #[arg(long, default_value_t = 1)]
    models: usize,
    /// How the ensemble gradient is computed.
    #[arg(long, value_enum, default_value_t = Mode::PerModel)]
    mode: Mode,
    /// Where the models are combined.
    #[arg(long, value_enum, default_value_t = Rule::LogitMean)]
    combination: Rule,
    /// Number of photos (at most 20).
    #[arg(long, default_value_t = 20)]
    images: usize,
    /// Load every copy's weights from the file instead of sharing one set.
    #[arg(long)]
    separate_weights: bool,
}

/// The process's peak resident set size in MiB, from `/proc/self/status`.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One iteration of the chosen attack on `device`; the peak memory as JSON.
fn memory(args: Args, device: Device) -> common_weakness_bench::Result<serde_json::Value> {
    let assets = ImagenetAssets::locate()?;
    let photos: Vec<_> = assets.photos()?.into_iter().take(args.images).collect();
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let x = images::load(&paths, 224, 224, &device)?;
    let weights = assets.weights(LiteVariant::Lite0);
    let shared = EfficientNetLite::load(LiteVariant::Lite0, &weights, &device)?;
    let mut members = Vec::new();
    for _ in 0..args.models {
        let model = if args.separate_weights {
            EfficientNetLite::load(LiteVariant::Lite0, &weights, &device)?
        } else {
            shared.clone()
        };
        members.push(Box::new(model.into_surrogate()) as Box<_>);
    }
    let after_loading = peak_rss_mib();
    let combination = match args.combination {
        Rule::LogitMean => Combination::LogitMean,
        Rule::LogitSum => Combination::LogitSum,
        Rule::LossMean => Combination::LossMean,
    };
    let mode = match args.mode {
        Mode::Joint => GradientMode::Joint,
        Mode::PerModel => GradientMode::PerModel,
    };
    let ensemble = Ensemble::new(members)?.with_gradient_mode(mode);
    let objective = Objective::untargeted(photos.iter().map(|p| p.label).collect());
    let budget = 16.0 / 255.0;
    let attack: Box<dyn Attack> = match args.attack {
        AttackKind::MiFgsm => {
            let mut attack = mi_fgsm(ThreatModel::linf(budget), 1, 1.0);
            attack.settings.combination = combination;
            Box::new(attack)
        }
        AttackKind::MiCwa => {
            Box::new(Cwa::mi_cwa(CwaConfig::paper(budget).with_iterations(1)).with_combination(combination))
        }
    };
    let started = Instant::now();
    attack.run(&ensemble, x, &objective)?;
    Ok(json!({
        "backend": args.backend.name(),
        "attack": format!("{:?}", args.attack),
        "models": args.models,
        "mode": format!("{:?}", args.mode),
        "combination": format!("{:?}", args.combination),
        "images": args.images,
        "separate_weights": args.separate_weights,
        "peak_rss_mib": peak_rss_mib(),
        "rss_after_loading_mib": after_loading,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let device = args.backend.device()?;
    let report = memory(args, device)?;
    println!("{report}");
    Ok(())
}
