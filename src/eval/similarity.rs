//! Mean pairwise cosine similarity of per-model gradients (the paper's closeness proxy).

use burn::tensor::{backend::Backend, Tensor};

use crate::error::{Error, Result};
use crate::norm::{self, Normalization};

/// Mean cosine similarity over all pairs `i < j` of the given gradients, computed per sample
/// and then averaged over the batch. `None` for fewer than two gradients. Zero gradients
/// count as similarity 0 (never NaN).
///
/// The authors' routine flattens each gradient over the whole batch and averages the upper
/// triangle *including* the diagonal ones; this one excludes the diagonal and works per
/// sample.
///
/// Fails with [`Error::Shape`] when the gradients' shapes differ.
pub fn mean_pairwise_cosine<B: Backend>(gradients: &[Tensor<B, 4>]) -> Result<Option<f64>> {
    let n = gradients.len();
    if n < 2 {
        return Ok(None);
    }
    let shape = gradients[0].dims();
    if let Some(other) = gradients.iter().map(|g| g.dims()).find(|&d| d != shape) {
        return Err(Error::Shape {
            what: "gradients compared by cosine",
            expected: format!("{shape:?} (the first gradient's)"),
            actual: other.to_vec(),
        });
    }
    // [N, n, D]: each sample's unit gradients, one row per model.
    let units: Vec<Tensor<B, 2>> =
        gradients.iter().map(|g| norm::flatten(Normalization::L2.apply(g.clone()))).collect();
    let stacked: Tensor<B, 3> = Tensor::stack(units, 1);
    let gram = stacked.clone().matmul(stacked.clone().swap_dims(1, 2)); // [N, n, n]
    let total = gram.sum_dims(&[1, 2]).flatten::<1>(0, 2);
    let diagonal = stacked.square().sum_dims(&[1, 2]).flatten::<1>(0, 2);
    let pairs = (n * (n - 1)) as f32;
    let per_sample = (total - diagonal).div_scalar(pairs);
    Ok(Some(crate::host::to_vec(per_sample.mean())[0] as f64))
}
