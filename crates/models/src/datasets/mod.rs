//! Datasets for benchmarks: the IDX format and Fashion-MNIST.

mod fashion_mnist;
pub mod idx;

pub use fashion_mnist::{FashionMnist, CLASSES, SYSTEM_DIR, TEST_SLICE_DIR};
