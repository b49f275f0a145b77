//! Flatness: the worst loss increase nearby, and the top Hessian eigenvalue.

use burn::tensor::Tensor;

use super::{widen, Landscape, Scope};
use crate::check::{at_least_one, positive};
use crate::error::Result;
use crate::host;
use crate::norm::{self, Normalization};
use crate::rng::AttackRng;
use crate::threat::ThreatModel;

impl Landscape<'_> {
    /// Sharpness per image: `max_{‖δ‖∞ ≤ radius} L(x + δ) − L(x)`, the largest increase of
    /// the objective within the ball (and `[0, 1]`), estimated by `steps` PGD ascent steps of
    /// size `radius / 4` from a seeded random start. At least 0 (δ = 0 is a candidate); small
    /// means flat.
    pub fn sharpness(&self, scope: Scope, x: &Tensor<4>, radius: f64, steps: usize, seed: u64) -> Result<Vec<f64>> {
        positive("radius", radius)?;
        at_least_one("steps", steps)?;
        self.check_point(x)?;
        let start = x.clone().inner();
        let base = self.loss(scope, &start)?;
        let ball = ThreatModel::linf(radius);
        let radius = radius as f32;
        let mut rng = AttackRng::new(seed);
        let noise = rng.uniform(start.dims(), -radius, radius, &start.device());
        let mut point = (start.clone() + noise).clamp(0.0, 1.0);
        let mut best = vec![0.0f32; base.len()];
        for step in 0..=steps {
            let evaluation = self.evaluate(scope, &point)?;
            let losses = host::to_vec(evaluation.loss);
            for ((best, loss), base) in best.iter_mut().zip(&losses).zip(&base) {
                *best = best.max(loss - base);
            }
            if step == steps {
                break;
            }
            point = ball.project(point + evaluation.gradient.sign().mul_scalar(radius / 4.0), &start);
        }
        Ok(widen(best))
    }

    /// The largest-magnitude eigenvalue of the objective's input Hessian at each image, by
    /// `iterations` steps of power iteration from a seeded random vector. Hessian-vector
    /// products are central finite differences of gradients,
    /// `Hv ≈ (∇L(x + h·v) − ∇L(x − h·v)) / 2h` with ‖v‖₂ = 1 per image (exact for quadratics;
    /// `h` = `finite_difference`, e.g. 1e-2 in pixel units). The points x ± h·v are not
    /// clipped to `[0, 1]`: the Hessian is a property of the function. Returns one value per
    /// image (the Hessian of the summed objective is block-diagonal over images).
    pub fn top_hessian_eigenvalue(
        &self,
        scope: Scope,
        x: &Tensor<4>,
        iterations: usize,
        finite_difference: f64,
        seed: u64,
    ) -> Result<Vec<f64>> {
        at_least_one("iterations", iterations)?;
        positive("finite_difference", finite_difference)?;
        self.check_point(x)?;
        let x = x.clone().inner();
        let h = finite_difference as f32;
        let mut v = Normalization::L2.apply(AttackRng::new(seed).normal(x.dims(), &x.device()));
        let mut eigenvalues = vec![0.0; x.dims()[0]];
        for _ in 0..iterations {
            let plus = self.evaluate(scope, &(x.clone() + v.clone().mul_scalar(h)))?.gradient;
            let minus = self.evaluate(scope, &(x.clone() - v.clone().mul_scalar(h)))?.gradient;
            let hv = (plus - minus).div_scalar(2.0 * h);
            self.check_finite(scope, "Hessian-vector product", &hv)?;
            // Rayleigh quotient vᵀHv per image (‖v‖ = 1).
            let quotient = norm::flatten(v * hv.clone()).sum_dim(1).squeeze_dim::<1>(1);
            eigenvalues = widen(host::to_vec(quotient));
            v = Normalization::L2.apply(hv);
        }
        Ok(eigenvalues)
    }
}
