//! The ONNX-imported models' tests in one binary (each test binary re-monomorphises Burn's
//! kernels). They need the ONNX files of `scripts/export-onnx-models.sh` (and the ImageNet
//! assets); without them each test prints why it is skipped and passes, unless
//! `COMMON_WEAKNESS_REQUIRE_ASSETS=1` (set by `.ci/run`) makes that a failure.

mod efficientnet_lite;
mod frozen_batch_norm;
mod parity;

use burn::backend::{Autodiff, Flex};
use common_weakness_onnx::Architecture;

pub type B = Autodiff<Flex>;

/// Whether `model` was generated; if not, says why the test is skipped (or fails under
/// `COMMON_WEAKNESS_REQUIRE_ASSETS`, `skip_or_fail`).
pub fn generated(model: Architecture) -> bool {
    if model.is_generated() {
        return true;
    }
    let why = match model.import_failure() {
        Some(reason) => format!("burn-onnx could not import {model}: {reason}"),
        None => format!("{} was absent at build time", model.onnx_file().display()),
    };
    common_weakness_models::skip_or_fail(&why);
    false
}
