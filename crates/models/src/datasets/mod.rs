//! Datasets for benchmarks: the IDX format and Fashion-MNIST.

pub mod fashion_mnist;
pub mod idx;

pub use fashion_mnist::FashionMnist;
