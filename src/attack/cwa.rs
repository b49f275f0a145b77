//! The generalised Common Weakness Attack loop (Chen et al., ICLR 2024, Algorithm 4).

use std::time::Instant;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::run::{Run, RunSetup};
use super::{Attack, AttackOutcome};
use crate::ensemble::{Combination, Ensemble};
use crate::error::{in_role, Result, Stage};
use crate::gradient::{EstimatorState, GradientEstimator, InputTransform};
use crate::objective::Objective;
use crate::observe::{Control, Observer};
use crate::optim::{InnerOptimizer, Optimizer, OuterOptimizer};
use crate::threat::ThreatModel;

/// A point of an outer iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AnchorPoint {
    /// The iterate `x_t` the iteration started from (before the reverse step).
    Iterate,
    /// The point after the reverse step (equal to `x_t` without one).
    Reversed,
}

/// The loop-level settings of a [`Cwa`] attack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSettings {
    /// The threat model every iterate is projected onto.
    pub threat: ThreatModel,
    /// Outer iterations T.
    pub iterations: usize,
    /// The point the pseudo-gradient is measured from: `q = anchor − x_inner_end`.
    pub anchor: AnchorPoint,
    /// The point the outer step is applied at: `x_{t+1} = project(origin + update)`.
    pub origin: AnchorPoint,
    /// Overrides the ensemble's combination point (the reference flavour sums logits).
    pub combination: Option<Combination>,
    /// Start from a random admissible point.
    pub random_start: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Record the mean pairwise cosine similarity of the inner-sweep gradients (keeps one
    /// gradient per model alive during a sweep).
    pub record_similarity: bool,
    /// How the combined ensemble gradient is estimated (reverse step, and the pseudo-gradient
    /// without an inner sweep). Plain by default.
    #[serde(default)]
    pub ensemble_gradient: GradientEstimator,
    /// How each model's gradient in the inner sweep is estimated. Plain by default.
    #[serde(default)]
    pub model_gradient: GradientEstimator,
}

impl LoopSettings {
    fn validate(&self) -> Result<()> {
        self.ensemble_gradient.validate()?;
        self.model_gradient.validate()
    }
}

/// The Common Weakness Attack as a meta-optimizer over three user-chosen optimizers.
///
/// Each outer iteration, from the iterate `x_t`:
/// 1. **reverse** (optional, flatness): `x_r = project(x_t + R(−∇L_ens(x_t)))`, an ascent
///    step of optimizer `R` on the combined ensemble objective;
/// 2. **inner sweep** (optional, closeness): from `x_r`, for each model `i` in visiting
///    order, `x ← project(x + I(∇L_i(x)))`; then the pseudo-gradient is
///    `q = anchor − x` (a descent direction). Without an inner sweep, `q = ∇L_ens(x_r)`;
/// 3. **outer**: `x_{t+1} = project(origin + O(q))`.
///
/// `anchor` and `origin` are [`LoopSettings`]; the presets ([`Cwa::mi_cwa`],
/// [`Cwa::mi_cse`], [`Cwa::mi_sam`], [`Cwa::adam_cwa`]) and the baselines
/// ([`fgsm`](super::fgsm), [`mi_fgsm`](super::mi_fgsm), …) set everything. Optimizer states
/// live for the whole run (the inner momentum is never reset, as in the paper).
///
/// An optimizer with a look-ahead (NI) has its gradients taken at the look-ahead point.
///
/// Cost per iteration with n models: n forward passes and one backward pass through all of
/// them for the reverse step, plus n forward/backward passes for the sweep.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use common_weakness::prelude::*;
/// use common_weakness::surrogate::from_fn;
///
/// type B = Autodiff<NdArray>;
/// let device = Default::default();
/// // Two linear "classifiers" over 4 pixels, 2 classes each.
/// let a = from_fn("a", |x: Tensor<B, 4>| {
///     let w = Tensor::<B, 2>::from_floats([[1.0, -1.0], [0.5, 0.0], [0.0, 1.0], [-1.0, 0.5]], &x.device());
///     x.flatten(1, 3).matmul(w)
/// });
/// let b = from_fn("b", |x: Tensor<B, 4>| {
///     let w = Tensor::<B, 2>::from_floats([[0.8, -0.2], [0.1, 0.3], [-0.4, 1.0], [-0.5, 0.9]], &x.device());
///     x.flatten(1, 3).matmul(w)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(a), Box::new(b)]).unwrap();
/// let images = Tensor::<B, 4>::full([1, 1, 2, 2], 0.5, &device);
/// let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0));
/// let outcome = attack.run(&ensemble, images, &Objective::untargeted(vec![0])).unwrap();
/// assert_eq!(outcome.records.len(), 10);
/// // Untargeted: the true label's cross-entropy went up, i.e. the objective went down.
/// assert!(outcome.final_loss[0] < outcome.initial_loss[0]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cwa<R, I, O> {
    /// Display name (e.g. `"MI-CWA"`).
    pub name: String,
    /// Loop-level settings.
    pub settings: LoopSettings,
    /// The reverse (sharpness-aware) step; `None` skips it.
    pub reverse: Option<R>,
    /// The per-model inner step; `None` uses the ensemble gradient as the pseudo-gradient.
    pub inner: Option<I>,
    /// The outer step on the pseudo-gradient.
    pub outer: O,
}

impl<R, I, O> Cwa<R, I, O> {
    /// Replaces the outer optimizer (e.g. Adam instead of MI momentum).
    pub fn with_outer<O2>(self, outer: O2) -> Cwa<R, I, O2> {
        Cwa { name: self.name, settings: self.settings, reverse: self.reverse, inner: self.inner, outer }
    }

    /// Replaces the inner optimizer.
    pub fn with_inner<I2>(self, inner: I2) -> Cwa<R, I2, O> {
        Cwa { name: self.name, settings: self.settings, reverse: self.reverse, inner: Some(inner), outer: self.outer }
    }

    /// Replaces the reverse optimizer.
    pub fn with_reverse<R2>(self, reverse: R2) -> Cwa<R2, I, O> {
        Cwa { name: self.name, settings: self.settings, reverse: Some(reverse), inner: self.inner, outer: self.outer }
    }

    /// Removes the reverse step.
    pub fn without_reverse(mut self) -> Self {
        self.reverse = None;
        self
    }

    /// Renames the attack (for reports).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Estimates the combined ensemble gradient with `estimator` (e.g. DI, TI, VMI, SSA).
    pub fn with_ensemble_gradient(mut self, estimator: GradientEstimator) -> Self {
        self.settings.ensemble_gradient = estimator;
        self
    }

    /// Estimates each model's inner-sweep gradient with `estimator`.
    pub fn with_model_gradient(mut self, estimator: GradientEstimator) -> Self {
        self.settings.model_gradient = estimator;
        self
    }

    /// Estimates every gradient of the attack with `estimator`.
    pub fn with_gradient(self, estimator: GradientEstimator) -> Self {
        self.with_ensemble_gradient(estimator).with_model_gradient(estimator)
    }

    /// Seeds every random choice of the run (random start, DI, VMI, SSA, shuffled order).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.settings.seed = seed;
        self
    }

    /// Changes the loop settings.
    pub fn with_settings(mut self, settings: LoopSettings) -> Self {
        self.settings = settings;
        self
    }
}

/// The point an optimizer wants its next gradient at: `x`, or `x` plus its look-ahead.
fn gradient_point<B: Backend, P: Optimizer<B>>(optimizer: &P, state: &P::State, x: &Tensor<B, 4>) -> Tensor<B, 4> {
    match optimizer.look_ahead(state) {
        Some(offset) => x.clone() + offset,
        None => x.clone(),
    }
}

impl<B, R, I, O> Attack<B> for Cwa<R, I, O>
where
    B: AutodiffBackend,
    R: Optimizer<B::InnerBackend>,
    I: InnerOptimizer<B::InnerBackend>,
    O: OuterOptimizer<B::InnerBackend>,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn run_observed(
        &self,
        ensemble: &Ensemble<B>,
        images: Tensor<B, 4>,
        objective: &Objective<B>,
        observer: &mut dyn Observer,
    ) -> Result<AttackOutcome<B>> {
        let s = &self.settings;
        let checks = || {
            s.validate()?;
            in_role("reverse", self.reverse.as_ref().map_or(Ok(()), |r| r.validate()))?;
            in_role("inner", self.inner.as_ref().map_or(Ok(()), |i| i.validate()))?;
            in_role("outer", self.outer.validate())
        };
        let setup = RunSetup {
            name: &self.name,
            config: serde_json::json!({
                "name": self.name,
                "settings": s,
                "reverse": self.reverse.as_ref().map(Optimizer::config),
                "inner": self.inner.as_ref().map(Optimizer::config),
                "outer": self.outer.config(),
            }),
            threat: s.threat,
            iterations: s.iterations,
            seed: s.seed,
            combination: s.combination,
            random_start: s.random_start,
            checks: &checks,
        };
        let mut run = Run::start(setup, ensemble, images, objective, observer)?;
        let n = run.models();
        let mut x = run.starting_point();
        let mut reverse_state = self.reverse.as_ref().map(|r| r.init(&x));
        let mut inner_state = self.inner.as_ref().map(|i| i.init(&x));
        let mut outer_state = self.outer.init(&x);
        // VMI's variance term, per gradient target.
        let mut reverse_estimate = EstimatorState::default();
        let mut ensemble_estimate = EstimatorState::default();
        let mut model_estimates: Vec<EstimatorState<B::InnerBackend>> =
            (0..n).map(|_| EstimatorState::default()).collect();
        let budget = s.threat.budget;

        for iteration in 1..=s.iterations {
            let started = Instant::now();
            let mut losses = run.losses();
            let evaluator = &run.evaluator;
            let ensemble_at = |p: &Tensor<B::InnerBackend, 4>, t: InputTransform<'_, B>| evaluator.ensemble(p, t);

            // 1. Reverse (sharpness) step: ascend the ensemble objective.
            let x_t = x.clone();
            let x_r = match (&self.reverse, reverse_state.as_mut()) {
                (Some(reverse), Some(state)) => {
                    let at = gradient_point(reverse, state, &x_t);
                    let mut evaluation =
                        s.ensemble_gradient.estimate(&ensemble_at, &at, budget, &mut run.rng, &mut reverse_estimate)?;
                    losses.note(&mut evaluation);
                    let ascent = evaluation.gradient.neg();
                    run.step(Stage::Reverse, iteration, x_t.clone(), ascent, |g| reverse.step(g, state))?
                }
                _ => x_t.clone(),
            };

            // 2. Inner sweep over the models, or the ensemble gradient at x_r.
            let mut sweep_gradients = Vec::new();
            let pseudo_gradient = match (&self.inner, inner_state.as_mut()) {
                (Some(inner), Some(state)) => {
                    let mut x_i = x_r.clone();
                    for index in ensemble.sweep(&mut run.rng) {
                        let model_at =
                            |p: &Tensor<B::InnerBackend, 4>, t: InputTransform<'_, B>| evaluator.model(index, p, t);
                        let at = gradient_point(inner, state, &x_i);
                        let mut evaluation = s.model_gradient.estimate(
                            &model_at,
                            &at,
                            budget,
                            &mut run.rng,
                            &mut model_estimates[index],
                        )?;
                        losses.note(&mut evaluation);
                        if s.record_similarity {
                            sweep_gradients.push(evaluation.gradient.clone());
                        }
                        let stage = run.inner_stage(index);
                        x_i = run.step(stage, iteration, x_i, evaluation.gradient, |g| inner.step(g, state))?;
                    }
                    let anchor = match s.anchor {
                        AnchorPoint::Iterate => x_t.clone(),
                        AnchorPoint::Reversed => x_r.clone(),
                    };
                    anchor - x_i
                }
                _ => {
                    let at = gradient_point(&self.outer, &outer_state, &x_r);
                    let mut evaluation = s.ensemble_gradient.estimate(
                        &ensemble_at,
                        &at,
                        budget,
                        &mut run.rng,
                        &mut ensemble_estimate,
                    )?;
                    losses.note(&mut evaluation);
                    evaluation.gradient
                }
            };

            // 3. Outer step on the pseudo-gradient.
            let origin = match s.origin {
                AnchorPoint::Iterate => x_t,
                AnchorPoint::Reversed => x_r,
            };
            x = run.step(Stage::Outer, iteration, origin, pseudo_gradient, |g| self.outer.step(g, &mut outer_state))?;
            if run.record(iteration, losses, &sweep_gradients, &x, started, observer)? == Control::Stop {
                break;
            }
        }
        run.finish(x, observer)
    }
}
