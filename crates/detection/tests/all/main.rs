//! The detection harness's tests in one binary.

mod boxes;
mod detector;
mod metrics;
mod nms;
mod placement;
mod scene;
