//! The benchmark crate's tests in one binary (each test binary re-monomorphises Burn's kernels).

#[allow(dead_code)]
#[path = "../../../../tests/all/common.rs"]
mod common;
mod defenses;
mod docs;
mod image_files;
mod imagenet;
mod parallel;
#[cfg(feature = "remote")]
mod remote;
mod shard;
mod statistics;
mod trained;
