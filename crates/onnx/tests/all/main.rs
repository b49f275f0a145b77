//! The ONNX-imported models' tests in one binary (each test binary re-monomorphises Burn's
//! kernels). Those that need the ONNX files of `scripts/export-onnx-models.sh` (and the
//! ImageNet assets) are `#[ignore]`d with the reason, so `cargo test` reports them as ignored;
//! `cargo test -- --ignored` runs them (`.ci/run` does), and each fails saying what is missing.

mod efficientnet_lite;
mod frozen_batch_norm;
mod parity;
#[cfg(feature = "tch")]
mod torchscript;

use common_weakness_models::ImagenetAssets;
use common_weakness_onnx::Architecture;

/// The ImageNet assets, or a panic whose message says how to fetch them.
pub fn require_assets() -> ImagenetAssets {
    ImagenetAssets::locate().unwrap_or_else(|e| panic!("{e}"))
}

/// Panics, saying why, unless `model` was generated at build time.
pub fn require_generated(model: Architecture) {
    if model.is_generated() {
        return;
    }
    match model.import_failure() {
        Some(reason) => panic!("{model} was not generated: {reason}"),
        None => panic!(
            "{} was absent at build time: run scripts/export-onnx-models.sh, then build with \
             --features common-weakness-onnx/import",
            model.onnx_file().display()
        ),
    }
}
