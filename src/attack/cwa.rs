//! The generalised Common Weakness Attack loop (Chen et al., ICLR 2024, Algorithm 4).
//!
//! The file opens with the loop, [`Cwa`]'s `iterate`: the reverse step, the inner sweep with
//! each model's L2-normalised gradient, the outer step. The types it runs on follow.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::order::VisitOrder;
use super::weighting::Weighting;
use super::{Iterate, Of, Plan, Run};
use crate::ensemble::Combination;
use crate::error::{in_role, Error, Result, Stage};
use crate::gradient::{EstimatorState, GradientEstimator};
use crate::optim::{
    Ascent, InnerOptimizer, ModelGradient, Optimizer, OuterOptimizer, PseudoGradient, ReverseOptimizer,
};
use crate::threat::ThreatModel;

impl<R, I, O> Iterate for Cwa<R, I, O>
where
    R: ReverseOptimizer,
    I: InnerOptimizer,
    O: OuterOptimizer,
{
    type State = CwaState<R::State, I::State, O::State>;

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x_t: Tensor<4>) -> Result<Tensor<4>> {
        let s = &self.settings;
        // 0. This iteration's model weights (AdaEA), for every ensemble gradient below.
        s.weighting.reweigh(run, &x_t, s.threat)?;
        // 1. Reverse (sharpness) step: ascend the ensemble objective.
        let x_r = match (&self.reverse, state.reverse.as_mut()) {
            (Some(reverse), Some(reverse_state)) => {
                let at = gradient_point(reverse, reverse_state, &x_t);
                let gradient = run.gradient(&s.ensemble_gradient, Of::Ensemble, &at, &mut state.reverse_memory)?;
                run.step(Stage::Reverse, x_t.clone(), gradient, |g| reverse.reverse_step(Ascent::of(g), reverse_state))?
            }
            _ => x_t.clone(),
        };

        // 2. Inner sweep over the models, or the ensemble gradient at x_r.
        let pseudo_gradient = match (&self.inner, state.inner.as_mut()) {
            (Some(inner), Some(inner_state)) => {
                let mut x_i = x_r.clone();
                let models = run.models();
                for index in s.order.visits(models, models, run.rng()) {
                    let at = gradient_point(inner, inner_state, &x_i);
                    let memory = &mut state.model_memories[index];
                    let gradient = run.gradient(&s.model_gradient, Of::Model(index), &at, memory)?;
                    if s.record_similarity {
                        run.compare(gradient.clone())?;
                    }
                    // The inner optimizer steps on g / ‖g‖₂, per sample: the paper's per-model
                    // L2 normalisation (Algorithm 4).
                    x_i = run.step(run.inner_stage(index), x_i, gradient, |g| {
                        inner.inner_step(ModelGradient::normalized(g), inner_state)
                    })?;
                }
                let anchor = match s.anchor {
                    AnchorPoint::Iterate => x_t.clone(),
                    AnchorPoint::Reversed => x_r.clone(),
                };
                anchor - x_i
            }
            _ => {
                let at = gradient_point(&self.outer, &state.outer, &x_r);
                run.gradient(&s.ensemble_gradient, Of::Ensemble, &at, &mut state.ensemble_memory)?
            }
        };

        // 3. Outer step on the pseudo-gradient (longer while GI's warm-up lasts).
        let origin = match s.origin {
            AnchorPoint::Iterate => x_t,
            AnchorPoint::Reversed => x_r,
        };
        let warming = s.warm_up.filter(|w| run.iteration() <= w.iterations);
        let next = run.step(Stage::Outer, origin, pseudo_gradient, |g| {
            let update = self.outer.outer_step(PseudoGradient::new(g), &mut state.outer);
            match warming {
                Some(warm_up) => update.mul_scalar(warm_up.step_scale as f32),
                None => update,
            }
        })?;
        // The warm-up's last iteration returns to the start, the optimizers keeping their state.
        match warming {
            Some(warm_up) if run.iteration() == warm_up.iterations => state
                .start
                .clone()
                .ok_or_else(|| Error::InvalidCheckpoint("checkpoint field `state.start`: missing".into())),
            _ => Ok(next),
        }
    }

    fn plan(&self) -> Plan<'_> {
        let s = &self.settings;
        Plan {
            name: &self.name,
            threat: s.threat,
            iterations: s.iterations + s.warm_up.map_or(0, |w| w.iterations),
            seed: s.seed,
            combination: s.combination,
            random_start: s.random_start,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "cwa": {
            "name": self.name,
            "settings": self.settings,
            "reverse": self.reverse.as_ref().map(Optimizer::config),
            "inner": self.inner.as_ref().map(Optimizer::config),
            "outer": self.outer.config(),
        }})
    }

    fn validate(&self) -> Result<()> {
        self.settings.validate()?;
        in_role("reverse", self.reverse.as_ref().map_or(Ok(()), |r| r.validate()))?;
        in_role("inner", self.inner.as_ref().map_or(Ok(()), |i| i.validate()))?;
        in_role("outer", self.outer.validate())
    }

    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        CwaState {
            reverse: self.reverse.as_ref().map(|r| r.init(x)),
            inner: self.inner.as_ref().map(|i| i.init(x)),
            outer: self.outer.init(x),
            reverse_memory: EstimatorState::default(),
            ensemble_memory: EstimatorState::default(),
            model_memories: (0..run.models()).map(|_| EstimatorState::default()).collect(),
            start: self.settings.warm_up.map(|_| x.clone()),
        }
    }
}

/// The optimizer and estimator states of one CWA run.
pub struct CwaState<RS, IS, OS> {
    reverse: Option<RS>,
    inner: Option<IS>,
    outer: OS,
    /// VMI's variance term, per gradient target.
    reverse_memory: EstimatorState,
    ensemble_memory: EstimatorState,
    model_memories: Vec<EstimatorState>,
    /// Where the run started, kept for GI's warm-up to return to.
    start: Option<Tensor<4>>,
}

crate::snapshot_fields!(CwaState<RS, IS, OS> {
    reverse,
    inner,
    outer,
    reverse_memory,
    ensemble_memory,
    model_memories,
    start
});

/// The point an optimizer wants its next gradient at: `x`, or `x` plus its look-ahead.
fn gradient_point<P: Optimizer>(optimizer: &P, state: &P::State, x: &Tensor<4>) -> Tensor<4> {
    match optimizer.look_ahead(state) {
        Some(offset) => x.clone() + offset,
        None => x.clone(),
    }
}

/// The Common Weakness Attack as a meta-optimizer over three user-chosen optimizers: the
/// engine of every attack but SVRE, RAP and SMER.
///
/// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial
///   Attacks*, ICLR 2024 (Algorithm 4, the generalised CWA).
/// - **Update**: each outer iteration, from the iterate `x_t`:
///   1. **reverse** (optional, flatness): `x_r = project(x_t + R(−∇L_ens(x_t)))`, the
///      [`ReverseOptimizer`] `R` fed the [`Ascent`];
///   2. **inner sweep** (optional, closeness): from `x_r`, for each model `i` in the
///      settings' [`VisitOrder`], `x ← project(x + I(∇L_i(x)/‖∇L_i(x)‖₂))`, the
///      [`InnerOptimizer`] `I` fed the [`ModelGradient`]; then the pseudo-gradient is
///      `q = anchor − x` (a descent direction). Without an inner sweep, `q = ∇L_ens(x_r)`;
///   3. **outer**: `x_{t+1} = project(origin + O(q))`, the [`OuterOptimizer`] `O` fed the
///      [`PseudoGradient`].
///
///   `anchor`, `origin`, the [`Combination`] of `L_ens`, the models' [`Weighting`] in it and
///   the visiting order are [`LoopSettings`]; optimizer states live for the whole run (the inner momentum is never
///   reset, as in the paper). An optimizer with a look-ahead (NI) has its gradients taken at
///   the look-ahead point.
/// - **Defaults**: set by the presets ([`Cwa::mi_cwa`], [`Cwa::mi_cse`], [`Cwa::mi_sam`],
///   [`Cwa::adam_cwa`], …) and the baselines ([`fgsm`](super::fgsm),
///   [`mi_fgsm`](super::mi_fgsm), …); every part can then be replaced (`with_outer`,
///   `with_gradient`, `with_combination`, `with_order`, …).
/// - **Cost**: per iteration with n models, n forward passes and one backward pass through
///   all of them for the reverse step, plus n forward/backward passes for the sweep.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::prelude::*;
/// use common_weakness::surrogate::from_fn;
///
/// let device = Default::default();
/// // Two linear "classifiers" over 4 pixels, 2 classes each.
/// let a = from_fn("a", |x: Tensor<4>| {
///     let w = Tensor::<2>::from_floats([[1.0, -1.0], [0.5, 0.0], [0.0, 1.0], [-1.0, 0.5]], &x.device());
///     x.flatten(1, 3).matmul(w)
/// });
/// let b = from_fn("b", |x: Tensor<4>| {
///     let w = Tensor::<2>::from_floats([[0.8, -0.2], [0.1, 0.3], [-0.4, 1.0], [-0.5, 0.9]], &x.device());
///     x.flatten(1, 3).matmul(w)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(a), Box::new(b)]).unwrap();
/// let images = Tensor::<4>::full([1, 1, 2, 2], 0.5, &device);
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

    /// Combines the models at `combination` for the ensemble gradient.
    pub fn with_combination(mut self, combination: Combination) -> Self {
        self.settings.combination = combination;
        self
    }

    /// Visits the models of the inner sweep in `order`.
    pub fn with_order(mut self, order: VisitOrder) -> Self {
        self.settings.order = order;
        self
    }

    /// Weighs the models of the ensemble gradient each iteration by `weighting` (AdaEA).
    pub fn with_weighting(mut self, weighting: Weighting) -> Self {
        self.settings.weighting = weighting;
        self
    }

    /// Changes the loop settings.
    pub fn with_settings(mut self, settings: LoopSettings) -> Self {
        self.settings = settings;
        self
    }
}

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
    /// Where the models are combined for the ensemble gradient (reverse step, and the
    /// pseudo-gradient without an inner sweep): the logit mean by default, the logit sum in the
    /// reference flavour (the authors' code).
    #[serde(default)]
    pub combination: Combination,
    /// The order in which the inner sweep visits the models (fixed by default).
    #[serde(default)]
    pub order: VisitOrder,
    /// How the models of the ensemble gradient are weighted each iteration: the ensemble's
    /// own weights by default, or AdaEA's.
    #[serde(default)]
    pub weighting: Weighting,
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
    /// GI's warm-up before the `iterations` (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_up: Option<WarmUp>,
}

/// The warm-up of GI, Wang et al., *Boosting the Transferability of Adversarial Attacks with
/// Global Momentum Initialization*, 2022: `iterations` iterations before the run's own, whose
/// outer steps are `step_scale` times longer, after which the iterate returns to where the
/// run started while every optimizer keeps its state (so the run begins with the momentum
/// the warm-up gathered). The paper: 5 iterations, scale 10. A run with a warm-up has
/// `iterations + warm_up.iterations` iterations in all; its records show the return (the
/// iteration after the warm-up starts from the start).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmUp {
    /// Iterations P of the warm-up (≥ 1).
    pub iterations: usize,
    /// The factor s on the outer steps during the warm-up (> 0).
    #[serde(with = "crate::json_float")]
    pub step_scale: f64,
}

impl WarmUp {
    /// GI's 5 iterations with tenfold steps.
    pub fn gi() -> Self {
        Self { iterations: 5, step_scale: 10.0 }
    }
}

impl LoopSettings {
    /// The settings of a plain iterative attack under `threat`: 10 iterations, each stepping
    /// from and measured from the iterate, the logit mean, models visited in order, the
    /// clean start, seed 0, no similarity record, plain gradients.
    ///
    /// ```
    /// use common_weakness::attack::{AnchorPoint, LoopSettings};
    /// use common_weakness::threat::ThreatModel;
    ///
    /// let settings = LoopSettings { iterations: 20, ..LoopSettings::new(ThreatModel::l2(1.0)) };
    /// assert_eq!((settings.iterations, settings.anchor), (20, AnchorPoint::Iterate));
    /// assert_eq!(LoopSettings::default().threat, ThreatModel::linf(16.0 / 255.0));
    /// ```
    pub fn new(threat: ThreatModel) -> Self {
        Self {
            threat,
            iterations: 10,
            anchor: AnchorPoint::Iterate,
            origin: AnchorPoint::Iterate,
            combination: Combination::LogitMean,
            order: VisitOrder::Fixed,
            weighting: Weighting::Static,
            random_start: false,
            seed: 0,
            record_similarity: false,
            ensemble_gradient: GradientEstimator::default(),
            model_gradient: GradientEstimator::default(),
            warm_up: None,
        }
    }

    fn validate(&self) -> Result<()> {
        self.ensemble_gradient.validate()?;
        self.model_gradient.validate()?;
        self.weighting.validate()?;
        if let Some(warm_up) = &self.warm_up {
            crate::check::at_least_one("warm_up.iterations", warm_up.iterations)?;
            crate::check::positive("warm_up.step_scale", warm_up.step_scale)?;
        }
        Ok(())
    }
}

/// [`LoopSettings::new`] under the paper's ImageNet threat model, L∞ with ε = 16/255.
impl Default for LoopSettings {
    fn default() -> Self {
        Self::new(ThreatModel::linf(16.0 / 255.0))
    }
}
