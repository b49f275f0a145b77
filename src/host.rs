//! Moving small tensors between the device and the host.

use burn::tensor::{Device, Tensor, TensorData};

/// Reads a tensor back as `f32` values (any float dtype is converted first).
pub(crate) fn to_vec<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().expect("data converted to f32 reads back as f32")
}

/// Builds a float tensor from host values.
pub(crate) fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Whether every value of `x` is finite, in one reduction read back as one number: `0 · v`
/// is 0 for every finite `v` and NaN otherwise.
pub(crate) fn is_finite<const D: usize>(x: &Tensor<D>) -> bool {
    to_vec(x.clone().mul_scalar(0.0).sum())[0] == 0.0
}
