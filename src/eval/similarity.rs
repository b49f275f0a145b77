//! Cosine similarities: of per-model gradients (the paper's closeness proxy) and of embeddings.

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::norm::{self, Normalization};

/// Mean cosine similarity over all pairs `i < j` of the given gradients, computed per sample
/// and then averaged over the batch ([`pairwise_cosine`] per sample). `None` for fewer than
/// two gradients. Zero gradients count as similarity 0 (never NaN).
///
/// The authors' routine flattens each gradient over the whole batch and averages the upper
/// triangle *including* the diagonal ones; this one excludes the diagonal and works per
/// sample.
///
/// Fails with [`Error::Shape`] when the gradients' shapes differ.
pub fn mean_pairwise_cosine(gradients: &[Tensor<4>]) -> Result<Option<f64>> {
    Ok(pairwise_cosine(gradients)?.map(|per_sample| per_sample.iter().sum::<f64>() / per_sample.len().max(1) as f64))
}

/// For each sample, the mean cosine similarity over all pairs `i < j` of the given
/// gradients `[N, C, H, W]`: one value per sample. `None` for fewer than two gradients.
/// Zero gradients count as similarity 0 (never NaN).
///
/// Fails with [`Error::Shape`] when the gradients' shapes differ.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::eval::pairwise_cosine;
///
/// let device = Default::default();
/// let a = Tensor::<4>::from_floats([[[[1.0, 0.0]]], [[[1.0, 1.0]]]], &device);
/// let b = Tensor::<4>::from_floats([[[[0.0, 3.0]]], [[[2.0, 2.0]]]], &device);
/// let cosines = pairwise_cosine(&[a, b]).unwrap().unwrap();
/// assert!(cosines[0].abs() < 1e-6 && (cosines[1] - 1.0).abs() < 1e-6);
/// ```
pub fn pairwise_cosine(gradients: &[Tensor<4>]) -> Result<Option<Vec<f64>>> {
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
    let units: Vec<Tensor<2>> = gradients.iter().map(|g| norm::flatten(Normalization::L2.apply(g.clone()))).collect();
    let stacked: Tensor<3> = Tensor::stack(units, 1);
    let gram = stacked.clone().matmul(stacked.clone().swap_dims(1, 2)); // [N, n, n]
    let total = gram.sum_dims(&[1, 2]).flatten::<1>(0, 2);
    let diagonal = stacked.square().sum_dims(&[1, 2]).flatten::<1>(0, 2);
    let pairs = (n * (n - 1)) as f32;
    let per_sample = (total - diagonal).div_scalar(pairs);
    Ok(Some(crate::host::to_vec(per_sample).into_iter().map(f64::from).collect()))
}

/// The cosine similarity of each row of `a` `[N, K]` with the same row of `b` (an image's
/// clean and adversarial embeddings, say); a zero row has similarity 0.
///
/// Fails with [`Error::Shape`] when the shapes differ and with [`Error::NonFiniteEmbedding`]
/// when an embedding holds a NaN or an infinity.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::eval::row_cosine;
///
/// let device = Default::default();
/// let a = Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 1.0]], &device);
/// let b = Tensor::<2>::from_floats([[0.0, 2.0], [3.0, 3.0]], &device);
/// let cos = row_cosine(a, b).unwrap();
/// assert!(cos[0].abs() < 1e-9 && (cos[1] - 1.0).abs() < 1e-6);
/// ```
pub fn row_cosine(a: Tensor<2>, b: Tensor<2>) -> Result<Vec<f64>> {
    let [rows, width] = a.dims();
    if b.dims() != [rows, width] {
        return Err(Error::Shape {
            what: "embeddings compared by cosine",
            expected: format!("[{rows}, {width}] (the first's)"),
            actual: b.dims().to_vec(),
        });
    }
    let (a, b) = (crate::host::to_vec(a), crate::host::to_vec(b));
    let non_finite = a.iter().chain(&b).filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(Error::NonFiniteEmbedding { count: non_finite });
    }
    if width == 0 {
        return Ok(vec![0.0; rows]);
    }
    Ok(a.chunks(width)
        .zip(b.chunks(width))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            let norms = x.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt()
                * y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            if norms > 0.0 {
                dot / norms
            } else {
                0.0
            }
        })
        .collect())
}
