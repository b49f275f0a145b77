//! # common-weakness-bench
//!
//! The benchmark side of `common-weakness`, kept out of the attack library so that its users
//! build none of it: the programs in `examples/` (the transfer table, ImageNet transfer,
//! speed and memory, training the zoo), and what they need beyond the models crate:
//!
//! - [`defense`]: black-box targets behind input transformations (bit depth, resize-and-pad,
//!   JPEG, randomized smoothing), as in the paper's table;
//! - [`images`]: JPEG/PNG files in and out, 8-bit quantisation and contact sheets;
//! - [`parallel`]: attacks on several batches at once, on threads sharing one ensemble;
//! - [`shard`]: image sets split across processes or machines, and their results merged;
//! - [`splits`]: the leave-one-out splits of EfficientNet-Lite0/1/2;
//! - [`statistics`]: intervals and paired tests for the reports;
//! - `remote` (feature `remote`): token-protected servers of Burn's remote backend on loopback.
#![warn(missing_docs)]

pub mod defense;
mod error;
pub mod images;
pub mod parallel;
#[cfg(feature = "remote")]
pub mod remote;
pub mod shard;
pub mod splits;
pub mod statistics;

pub use error::{Error, Result};

/// Reads a tensor back as `f32` values.
fn to_vec<const D: usize>(x: burn::tensor::Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().expect("data converted to f32 reads back as f32")
}
