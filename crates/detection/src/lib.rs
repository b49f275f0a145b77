//! # common-weakness-detection
//!
//! The paper's detection experiment needs pedestrian photos and trained detectors that cannot
//! be fetched here, so this crate rebuilds its protocol from parts the project can make:
//!
//! - [`detector`]: four detector families (YOLO-, SSD-, CenterNet- and FCOS-style) in Burn,
//!   trained by `examples/train_detectors.rs` and committed as weights;
//! - [`dataset::SceneSet`]: a fixed set of scenes as tensors;
//! - [`scene`]: detection scenes composed from real Fashion-MNIST items, pasted at random
//!   scales and positions onto procedurally textured backgrounds, with their boxes and
//!   classes known, from a seed;
//! - [`BoundingBox`] and [`iou`];
//! - [`non_maximum_suppression`]: greedy, per class;
//! - [`average_precision`] and [`mean_average_precision`]: VOC-style AP at an IoU threshold
//!   (all-point interpolation), duplicates counted as false positives.
#![warn(missing_docs)]

mod boxes;
pub mod dataset;
pub mod detector;
mod error;
mod metrics;
mod nms;
pub mod scene;

pub use boxes::{iou, BoundingBox, Detection, GroundTruth};
pub use error::{Error, Result};
pub use metrics::{average_precision, mean_average_precision, PrecisionRecall};
pub use nms::non_maximum_suppression;
