//! Compares every imported model with PyTorch and prints the table of `docs/models.md`:
//! import status, relative logit and input-gradient errors, batch independence, timings.
//!
//! ```text
//! scripts/export-onnx-models.sh
//! cargo run --release -p common-weakness-onnx --example onnx_parity
//! ```
use std::time::Instant;

use burn::backend::{Autodiff, Flex};
use clap::Parser;
use common_weakness_onnx::{Architecture, Parity};

#[derive(Parser)]
#[command(about = "Logits and input gradients of the ONNX-imported models against PyTorch's")]
struct Args {
    /// Models to compare (file stems such as resnet18); all by default.
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
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
    println!("| model | weights | import | logits rel. error | gradient rel. error (PyTorch f32) | vs PyTorch f32 | top-1 equal | batch independence (max diff.) | load s | forward+backward s |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for model in models {
        let weights = if model.has_real_weights() { "ImageNet" } else { "random (seed 0)" };
        match Parity::measure::<Autodiff<Flex>>(model, &Default::default()) {
            Ok(p) => println!(
                "| {model} | {weights} | ok | {:.1e} | {:.1e} ({:.1e}) | {:.1e} | {} | {:.1e} | {:.1} | {:.1} |",
                p.logits,
                p.gradient,
                p.torch_gradient,
                p.gradient_vs_torch32,
                if p.same_top1 { "yes" } else { "no" },
                p.batch_difference,
                p.load_seconds,
                p.gradient_seconds
            ),
            Err(e) => println!("| {model} | {weights} | **failed**: {e} | | | | | | | |"),
        }
    }
    eprintln!("compared in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
