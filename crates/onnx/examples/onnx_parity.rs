//! Compares every imported model with PyTorch and prints the table of `docs/models.md`:
//! import status, relative logit and input-gradient errors, batch independence, timings, and
//! for EfficientNet-Lite the time of the crate's own implementation on the same batch.
//!
//! ```text
//! scripts/fetch-imagenet-assets.sh && scripts/export-onnx-models.sh
//! cargo run --release -p common-weakness-onnx --example onnx_parity
//! ```
use std::time::Instant;

use burn::tensor::Device;
use clap::Parser;
use common_weakness::surrogate::Surrogate;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};
use common_weakness_onnx::{logits_and_gradient, Architecture, Parity, Reference};

#[derive(Parser)]
#[command(about = "Logits and input gradients of the ONNX-imported models against PyTorch's")]
struct Args {
    /// Models to compare (file stems such as resnet18); all by default.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
}

/// Seconds for the crate's own EfficientNet-Lite to compute the reference logits and gradient
/// (second pass), when `model` is one and the ImageNet assets are here.
fn own_seconds(model: Architecture) -> Option<f64> {
    let variant = match model {
        Architecture::EfficientNetLite0 => LiteVariant::Lite0,
        Architecture::EfficientNetLite1 => LiteVariant::Lite1,
        Architecture::EfficientNetLite2 => LiteVariant::Lite2,
        _ => return None,
    };
    let (assets, reference) = (ImagenetAssets::locate().ok()?, Reference::load(model).ok()?);
    let device = Device::flex().autodiff();
    let own = EfficientNetLite::load(variant, assets.weights(variant), &device).ok()?.into_surrogate();
    logits_and_gradient(&own as &dyn Surrogate, &reference, &device);
    let started = Instant::now();
    logits_and_gradient(&own as &dyn Surrogate, &reference, &device);
    Some(started.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let models = if args.models.is_empty() {
        Architecture::ALL.to_vec()
    } else {
        args.models
            .iter()
            .map(|name| Architecture::from_name(name).ok_or_else(|| format!("unknown model `{name}`")))
            .collect::<Result<_, _>>()?
    };
    let started = Instant::now();
    println!(
        "| model | weights | import | logits | features | gradient, max (PyTorch f32) | gradient, L2 (PyTorch f32) \
         | top-1 equal | batch dependence | forward + backward, s (crate's own) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for model in models {
        let weights = if model.has_real_weights() { "ImageNet" } else { "random, seed 0" };
        match Parity::measure(model, &Device::flex().autodiff()) {
            Ok(p) => {
                let own = own_seconds(model).map(|s| format!(" ({s:.2})")).unwrap_or_default();
                println!(
                    "| {model} | {weights} | ok | {:.1e} | {:.1e} | {:.1e} ({:.1e}) | {:.1e} ({:.1e}) | {} | {:.1e} | {:.2}{own} |",
                    p.logits,
                    p.features.unwrap_or(f32::NAN),
                    p.gradient,
                    p.torch_gradient,
                    p.gradient_l2,
                    p.torch_gradient_l2,
                    if p.same_top1 { "yes" } else { "no" },
                    p.batch_difference,
                    p.gradient_seconds,
                )
            }
            Err(e) => println!("| {model} | {weights} | **failed**: {e} | | | | | | | |"),
        }
    }
    eprintln!("compared in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
