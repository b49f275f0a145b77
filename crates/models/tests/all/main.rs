//! The models crate's tests in one binary (each test binary re-monomorphises Burn's kernels).

mod alrs;
mod backend_agreement;
#[allow(dead_code)]
#[path = "../../../../tests/all/common.rs"]
mod common;
mod datasets;
mod weights;
mod zoo;
