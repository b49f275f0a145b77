//! How much each model counts in the combined ensemble gradient, iteration by iteration.

use burn::tensor::activation::softmax;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::Run;
use crate::error::{Error, Result};
use crate::objective::{Goal, LossKind};
use crate::threat::ThreatModel;

/// How the models of the combined ensemble gradient are weighted each iteration: the setting's
/// one owner is [`LoopSettings::weighting`](super::LoopSettings::weighting), so it applies to
/// every attack on the CWA engine (the baselines and the CWA family).
///
/// The weights act wherever the ensemble gradient does: the baselines' steps, CWA's reverse
/// step, and the pseudo-gradient of a CWA without an inner sweep, under every
/// [`Combination`](crate::ensemble::Combination) and
/// [`GradientMode`](crate::ensemble::GradientMode). CWA's inner sweep steps on each model's
/// own normalised gradient and is not weighted (as with the ensemble's static weights), so in
/// MI-CWA a weighting changes the reverse step only. SVRE, RAP and SMER keep their own loops and the
/// static weights.
///
/// A rule of your own sets per-image weights from an attack's iteration with
/// [`Run::set_weights`] (see [`Iterate`](super::Iterate)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Weighting {
    /// The ensemble's own weights ([`Ensemble::with_weights`](crate::ensemble::Ensemble::with_weights)),
    /// the same every iteration.
    #[default]
    Static,
    /// AdaEA's adaptive weights and gradient filter, recomputed every iteration.
    AdaEa(AdaEa),
}

impl Weighting {
    /// Checks the weighting's parameters.
    pub fn validate(&self) -> Result<()> {
        match self {
            Weighting::Static => Ok(()),
            Weighting::AdaEa(ada_ea) => ada_ea.validate(),
        }
    }

    /// Sets this iteration's weights at the iterate `x` (nothing for [`Static`](Self::Static)).
    pub(crate) fn reweigh(&self, run: &mut Run<'_>, x: &Tensor<4>, threat: ThreatModel) -> Result<()> {
        match self {
            Weighting::Static => Ok(()),
            Weighting::AdaEa(ada_ea) => ada_ea.reweigh(run, x, threat),
        }
    }
}

/// AdaEA: per-image weights from each model's adversarial ability, and a filter that zeroes
/// the combined gradient where the models' gradients disagree.
///
/// - **Paper**: Chen et al., *An Adaptive Model Ensemble Adversarial Attack for Boosting
///   Adversarial Transferability*, ICCV 2023.
/// - **Update**, each iteration at the iterate `x`, for n models with gradients `g_i` of their
///   own objectives:
///   1. *adaptive gradient modulation*: each model's probe `x_j = P(x + α·s(∇CE_j))` (one
///      steepest step of size `α = probe_step·ε`), and per image `w = softmax_j(β·Σ_{i≠j}
///      CE_i(x_j)/CE_i(x_i))`: a model whose step raises the others' losses more than their
///      own steps do counts more. Targeted, the ratio is inverted (`CE_i(x_i)/CE_i(x_j)`: the
///      targeted loss falls), this crate's extension;
///   2. *disparity-reduced filter*: per image and pixel, the mean over model pairs of the
///      cosine between their gradients across channels; the combined gradient is kept where
///      it is at least `threshold` and zeroed elsewhere;
///   3. the combined gradient of the iteration uses `w` in place of the ensemble's weights and
///      is filtered.
///
///   TransferAttack's port (which sets the defaults) averages the filter's similarities over
///   all models but the last and divides by n; this crate averages over every pair, as the
///   paper describes. Its batch-mean losses give one weight vector per batch; here each image
///   has its own, so results do not depend on the batch. It needs the cross-entropy loss (the
///   ratios are of positive losses) and a per-image attack.
/// - **Defaults** ([`AdaEa::paper`]): β = 10, threshold −0.3, α = ε/T (TransferAttack's: its
///   attack step, 1.6/255 at ε = 16/255 and T = 10).
/// - **Cost**: per iteration, n forward/backward passes for the models' gradients and n²
///   forward passes for the probes, before the attack's own gradients.
///
/// ```
/// use common_weakness::attack::{AdaEa, Weighting};
///
/// let ada_ea = AdaEa::paper(10);
/// assert_eq!((ada_ea.beta, ada_ea.threshold, ada_ea.probe_step), (10.0, -0.3, 0.1));
/// assert!(Weighting::AdaEa(AdaEa { beta: -1.0, ..ada_ea }).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaEa {
    /// The temperature β of the softmax over the models' scores (> 0).
    #[serde(with = "crate::json_float")]
    pub beta: f64,
    /// The filter keeps the gradient where the mean pairwise cosine is at least this, in
    /// [−1, 1] (−1 keeps everything).
    #[serde(with = "crate::json_float")]
    pub threshold: f64,
    /// The probe step α in multiples of the budget ε (> 0).
    #[serde(with = "crate::json_float")]
    pub probe_step: f64,
}

impl AdaEa {
    /// The paper's settings for an attack of `iterations` iterations: β = 10, threshold −0.3,
    /// probe step ε/T.
    pub fn paper(iterations: usize) -> Self {
        Self { beta: 10.0, threshold: -0.3, probe_step: 1.0 / iterations.max(1) as f64 }
    }

    fn validate(&self) -> Result<()> {
        crate::check::positive("weighting.beta", self.beta)?;
        crate::check::positive("weighting.probe_step", self.probe_step)?;
        if !(-1.0..=1.0).contains(&self.threshold) {
            return Err(Error::InvalidParameter {
                name: "weighting.threshold",
                value: self.threshold,
                requirement: "a cosine in [-1, 1]",
            });
        }
        Ok(())
    }

    fn reweigh(&self, run: &mut Run<'_>, x: &Tensor<4>, threat: ThreatModel) -> Result<()> {
        if !run.per_image() {
            return Err(Error::InvalidParameter {
                name: "weighting",
                value: self.beta,
                requirement: "AdaEA probes each image's own step: per-image attacks only",
            });
        }
        let evaluator = run.evaluator();
        let objective = evaluator.objective();
        if objective.loss_kind() != Some(LossKind::CrossEntropy) {
            return Err(Error::InvalidObjective(
                "AdaEA weighs models by ratios of cross-entropy losses: use that loss",
            ));
        }
        let models = run.models();
        let gradients =
            (0..models).map(|i| Ok(evaluator.model(i, x, None)?.gradient)).collect::<Result<Vec<Tensor<4>>>>()?;
        // The objective descends: a step up model j's cross-entropy (untargeted) or down its
        // targeted one is a step down its objective.
        let step = self.probe_step * threat.budget;
        let probes: Vec<Tensor<4>> = gradients
            .iter()
            .map(|g| run.project(x.clone() - threat.steepest().apply(g.clone()).mul_scalar(step)))
            .collect();
        // Cross-entropy is the objective's magnitude (−CE untargeted, CE targeted).
        let cross_entropy = |model: usize, at: &Tensor<4>| Ok(evaluator.model_loss(model, at)?.abs().clamp_min(1e-6));
        let own = (0..models).map(|i| cross_entropy(i, &probes[i])).collect::<Result<Vec<_>>>()?;
        let mut scores = Vec::with_capacity(models);
        for (j, probe) in probes.iter().enumerate() {
            let mut score = own[j].zeros_like();
            for (i, own) in own.iter().enumerate().filter(|(i, _)| *i != j) {
                let other = cross_entropy(i, probe)?;
                score = score
                    + match objective.goal() {
                        Goal::Untargeted => other / own.clone(),
                        Goal::Targeted => own.clone() / other,
                    };
            }
            scores.push(score);
        }
        let weights = softmax(Tensor::stack::<2>(scores, 1).mul_scalar(self.beta as f32), 1);
        let filter = disparity_filter(&gradients, self.threshold);
        run.set_weights(weights)?;
        if let Some(filter) = filter {
            run.set_gradient_filter(filter);
        }
        Ok(())
    }
}

/// AdaEA's disparity-reduced filter: 1 where the mean over model pairs of the per-pixel
/// cosine across channels is at least `threshold`, 0 elsewhere, `[N, 1, H, W]`; `None` for
/// one model (no pair).
fn disparity_filter(gradients: &[Tensor<4>], threshold: f64) -> Option<Tensor<4>> {
    let unit: Vec<Tensor<4>> =
        gradients.iter().map(|g| g.clone() / g.clone().square().sum_dim(1).sqrt().clamp_min(1e-8)).collect();
    let mut sum: Option<Tensor<4>> = None;
    let mut pairs = 0;
    for i in 0..unit.len() {
        for j in i + 1..unit.len() {
            let cosine = (unit[i].clone() * unit[j].clone()).sum_dim(1);
            sum = Some(match sum {
                Some(s) => s + cosine,
                None => cosine,
            });
            pairs += 1;
        }
    }
    sum.map(|s| s.div_scalar(pairs as f32).greater_equal_elem(threshold as f32).float())
}
