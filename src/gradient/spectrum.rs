//! The 2-D DCT as matrix products (so it runs on every backend) and SSA's spectrum
//! transform.

use burn::tensor::{Device, Tensor};

use crate::planar::separable;
use crate::rng::AttackRng;

/// The orthonormal DCT-II matrix `D` of size `n`: `D[k][i] = a_k·cos(π(2i+1)k / 2n)` with
/// `a_0 = √(1/n)`, `a_k = √(2/n)`. Orthonormal, so its inverse is its transpose.
pub fn dct_matrix(n: usize, device: &Device) -> Tensor<2> {
    let values = (0..n * n)
        .map(|index| {
            let (k, i) = ((index / n) as f64, (index % n) as f64);
            let scale = if k == 0.0 { (1.0 / n as f64).sqrt() } else { (2.0 / n as f64).sqrt() };
            (scale * (std::f64::consts::PI * (2.0 * i + 1.0) * k / (2.0 * n as f64)).cos()) as f32
        })
        .collect();
    crate::host::tensor(values, [n, n], device)
}

/// The orthonormal 2-D DCT-II of every channel: `D_H · x · D_Wᵀ`.
pub fn dct2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let device = x.device();
    separable(dct_matrix(h, &device), x, dct_matrix(w, &device))
}

/// The exact inverse of [`dct2`]: `D_Hᵀ · y · D_W`.
pub fn idct2(y: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = y.dims();
    let device = y.device();
    separable(dct_matrix(h, &device).transpose(), y, dct_matrix(w, &device).transpose())
}

/// One SSA sample: `idct2(dct2(x + ξ) ⊙ M)` with `ξ ~ N(0, σ²)` and `M ~ U(1−ρ, 1+ρ)`
/// element-wise. With `σ = ρ = 0` it returns `x` itself.
pub fn spectrum_sample(x: &Tensor<4>, rho: f32, sigma: f32, rng: &mut AttackRng) -> Tensor<4> {
    if rho == 0.0 && sigma == 0.0 {
        return x.clone();
    }
    let shape = x.dims();
    let device = x.device();
    let noisy = x.clone() + rng.normal(shape, &device).mul_scalar(sigma);
    let mask = rng.uniform(shape, 1.0 - rho, 1.0 + rho, &device);
    idct2(dct2(noisy) * mask)
}
