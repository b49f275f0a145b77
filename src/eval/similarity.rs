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
    Ok(PairwiseCosine::of(gradients)?.mean())
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
    Ok(PairwiseCosine::of(gradients)?.per_sample())
}

/// [`pairwise_cosine`] one gradient at a time, in memory independent of how many gradients
/// are added: it keeps each sample's sum of unit gradients `s = Σᵢ uᵢ`, whose squared norm is
/// the sum of every pair's cosine twice plus the diagonal, `‖s‖² = Σᵢ‖uᵢ‖² + 2·Σ_{i<j} uᵢ·uⱼ`.
/// A run's record uses it, so recording the similarity of n models' gradients holds one
/// gradient-sized sum, not n gradients.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::eval::{pairwise_cosine, PairwiseCosine};
///
/// let device = Default::default();
/// let gradients = [[3.0, 0.0], [1.0, 1.0], [0.0, -2.0]]
///     .map(|g| Tensor::<4>::from_floats([[[g]]], &device));
/// let mut running = PairwiseCosine::default();
/// for g in &gradients {
///     running.add(g.clone()).unwrap();
/// }
/// // Pairs: cos(a, b) = 1/√2, cos(a, c) = 0, cos(b, c) = −1/√2; their mean is 0.
/// assert!(running.mean().unwrap().abs() < 1e-6);
/// assert_eq!(running.per_sample(), pairwise_cosine(&gradients).unwrap());
/// ```
#[derive(Debug, Default)]
pub struct PairwiseCosine {
    /// Per sample `[N, D]`: the sum of the unit gradients added so far.
    sum: Option<Tensor<2>>,
    /// Per sample `[N]`: the sum of their squared norms (1, or 0 for a zero gradient).
    diagonal: Option<Tensor<1>>,
    shape: [usize; 4],
    count: usize,
}

impl PairwiseCosine {
    /// The gradients added in turn.
    pub fn of(gradients: &[Tensor<4>]) -> Result<Self> {
        let mut cosines = Self::default();
        for gradient in gradients {
            cosines.add(gradient.clone())?;
        }
        Ok(cosines)
    }

    /// Adds a gradient `[N, C, H, W]`; fails with [`Error::Shape`] when its shape differs
    /// from the first one's.
    pub fn add(&mut self, gradient: Tensor<4>) -> Result<()> {
        let shape = gradient.dims();
        if self.count > 0 && shape != self.shape {
            return Err(Error::Shape {
                what: "gradients compared by cosine",
                expected: format!("{:?} (the first gradient's)", self.shape),
                actual: shape.to_vec(),
            });
        }
        let unit = norm::flatten(Normalization::L2.apply(gradient));
        let squared = unit.clone().square().sum_dim(1).flatten::<1>(0, 1);
        self.sum = Some(self.sum.take().map_or(unit.clone(), |sum| sum + unit));
        self.diagonal = Some(self.diagonal.take().map_or(squared.clone(), |diagonal| diagonal + squared));
        self.shape = shape;
        self.count += 1;
        Ok(())
    }

    /// Each sample's mean cosine over the pairs added so far; `None` below two gradients.
    pub fn per_sample(&self) -> Option<Vec<f64>> {
        let (Some(sum), Some(diagonal)) = (&self.sum, &self.diagonal) else { return None };
        if self.count < 2 {
            return None;
        }
        let total = sum.clone().square().sum_dim(1).flatten::<1>(0, 1);
        let per_sample = (total - diagonal.clone()).div_scalar((self.count * (self.count - 1)) as f32);
        Some(crate::host::to_vec(per_sample).into_iter().map(f64::from).collect())
    }

    /// The batch mean of [`per_sample`](Self::per_sample).
    pub fn mean(&self) -> Option<f64> {
        self.per_sample().map(|per_sample| per_sample.iter().sum::<f64>() / per_sample.len().max(1) as f64)
    }
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
