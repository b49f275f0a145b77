//! Closeness: how aligned the models' gradients are, and how far each model's nearby optimum is.

use burn::tensor::Tensor;

use super::{widen, Landscape, Scope};
use crate::check::{at_least_one, positive};
use crate::error::Result;
use crate::eval::pairwise_cosine;
use crate::host;
use crate::norm;
use crate::threat::ThreatModel;

/// One model's nearby optimum, found by descending its objective from the given point.
#[derive(Clone, Debug)]
pub struct NearbyOptimum {
    /// The optimum p (per image), within the search radius of the start and in `[0, 1]`.
    pub point: Tensor<4>,
    /// Per-image L2 distance ‖p − x‖₂.
    pub l2_distance: Vec<f64>,
    /// Per-image L∞ distance ‖p − x‖∞.
    pub linf_distance: Vec<f64>,
    /// Per-image objective at x.
    pub loss_at_start: Vec<f64>,
    /// Per-image objective at p (lower: the descent found a better point).
    pub loss_at_optimum: Vec<f64>,
}

impl Landscape<'_> {
    /// Mean pairwise cosine similarity of the models' gradients at `x`, one value per image
    /// (the paper's closeness proxy, Thm 3.2). `None` with fewer than two models.
    pub fn gradient_cosine(&self, x: &Tensor<4>) -> Result<Option<Vec<f64>>> {
        self.check_point(x)?;
        let x = x.clone().inner();
        let gradients = (0..self.names.len())
            .map(|i| Ok(self.evaluate(Scope::Model(i), &x)?.gradient))
            .collect::<Result<Vec<_>>>()?;
        pairwise_cosine(&gradients)
    }

    /// Model `scope`'s nearby optimum from `x`: `steps` BIM steps of size `step_size` that
    /// descend its objective, kept within `x ± radius` (L∞) and `[0, 1]`, as the authors' landscape
    /// script does (10 steps of 1.6/255 within 16/255).
    pub fn nearby_optimum(
        &self,
        scope: Scope,
        x: &Tensor<4>,
        steps: usize,
        step_size: f64,
        radius: f64,
    ) -> Result<NearbyOptimum> {
        at_least_one("steps", steps)?;
        positive("step_size", step_size)?;
        positive("radius", radius)?;
        self.check_point(x)?;
        let start = x.clone().inner();
        let ball = ThreatModel::linf(radius);
        let mut point = start.clone();
        let mut loss_at_start = None;
        for _ in 0..steps {
            let evaluation = self.evaluate(scope, &point)?;
            loss_at_start.get_or_insert_with(|| widen(host::to_vec(evaluation.loss.clone())));
            point = ball.project(point - evaluation.gradient.sign().mul_scalar(step_size as f32), &start);
        }
        let loss_at_optimum = widen(self.loss(scope, &point)?);
        let difference = point.clone() - start;
        Ok(NearbyOptimum {
            l2_distance: widen(host::to_vec(norm::l2(difference.clone()))),
            linf_distance: widen(host::to_vec(norm::linf(difference))),
            loss_at_start: loss_at_start.expect("at least one step"),
            loss_at_optimum,
            point: Tensor::from_inner(point),
        })
    }
}
