//! The detection harness's tests in one binary.

mod metrics;
mod nms;
mod scene;
