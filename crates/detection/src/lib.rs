//! # common-weakness-detection
//!
//! The paper's detection experiment needs pedestrian photos and trained detectors that cannot
//! be fetched here, so this crate rebuilds its protocol from parts the project can make:
//!
//! - [`scene`]: detection scenes composed from real Fashion-MNIST items, pasted at random
//!   scales and positions onto procedurally textured backgrounds, with their boxes and
//!   classes known, from a seed;
//! - [`BoundingBox`] and [`iou`];
//! - [`non_maximum_suppression`]: greedy, per class;
//! - [`average_precision`] and [`mean_average_precision`]: VOC-style AP at an IoU threshold
//!   (all-point interpolation), duplicates counted as false positives.
#![warn(missing_docs)]

mod boxes;
mod error;
mod metrics;
mod nms;
pub mod scene;

pub use boxes::{iou, BoundingBox, Detection, GroundTruth};
pub use error::{Error, Result};
pub use metrics::{average_precision, mean_average_precision, PrecisionRecall};
pub use nms::non_maximum_suppression;
