//! SVRE: stochastic variance-reduced ensemble attack (Xiong et al., CVPR 2022).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::defaults::serde_with_defaults;
use super::order::VisitOrder;
use super::Flavor;
use super::{Iterate, Of, Plan, Run};
use crate::check::{at_least_one, non_negative, positive};
use crate::ensemble::Combination;
use crate::error::{in_role, Result, Stage};
use crate::gradient::{EstimatorState, GradientEstimator};
use crate::optim::{Momentum, Optimizer, OuterOptimizer, PseudoGradient};
use crate::threat::ThreatModel;

/// SVRE's hyper-parameters.
///
/// Read from JSON, only `threat` is required: every other field defaults to
/// [`SvreConfig::paper`]'s value for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct SvreConfig {
    /// The threat model.
    pub threat: ThreatModel,
    /// Outer iterations T.
    pub iterations: usize,
    /// Inner step β.
    #[serde(with = "crate::json_float")]
    pub inner_step_size: f64,
    /// Inner momentum μ₂.
    #[serde(with = "crate::json_float")]
    pub inner_momentum: f64,
    /// Inner steps M per outer iteration; `None` visits each model once (M = n).
    pub inner_steps: Option<usize>,
    /// The models of the inner steps: drawn at random with replacement (the paper), or in
    /// order (the authors).
    pub order: VisitOrder,
    /// Reset the inner momentum every outer iteration (the paper; the authors keep it).
    pub reset_inner_momentum: bool,
    /// Start from a random admissible point.
    pub random_start: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// How every model gradient is estimated (at the anchor and in the inner steps): DI, TI,
    /// VMI, SSA or plain (the default).
    #[serde(default)]
    pub gradient: GradientEstimator,
}

impl SvreConfig {
    /// The paper's algorithm: T = 10, β = ε/10, μ₂ = 1, M = n random models, inner momentum
    /// reset each outer iteration.
    pub fn paper(threat: ThreatModel) -> Self {
        Self {
            threat,
            iterations: 10,
            inner_step_size: threat.budget / 10.0,
            inner_momentum: 1.0,
            inner_steps: None,
            order: VisitOrder::Random,
            reset_inner_momentum: true,
            random_start: false,
            seed: 0,
            gradient: GradientEstimator::default(),
        }
    }

    /// The authors' `MI_SVRE` where it is sound: models in order, inner momentum kept across
    /// outer iterations (its sign-accumulating inner momentum, unnormalised outer momentum
    /// and missing [0, 1] clip are not reproduced; see `docs/algorithms.md`).
    pub fn reference(threat: ThreatModel) -> Self {
        Self { order: VisitOrder::Fixed, reset_inner_momentum: false, ..Self::paper(threat) }
    }

    /// The settings of `flavor`.
    pub fn flavor(threat: ThreatModel, flavor: Flavor) -> Self {
        match flavor {
            Flavor::Paper => Self::paper(threat),
            Flavor::Reference => Self::reference(threat),
        }
    }
}

/// SVRE: the stochastic variance-reduced ensemble attack.
///
/// - **Paper**: Xiong et al., *Stochastic Variance Reduced Ensemble Adversarial Attack for
///   Boosting the Adversarial Transferability*, CVPR 2022.
/// - **Update**: each outer iteration takes every model's gradient at `x_t` and their
///   weighted mean `g_ens` (SVRE is a loss ensemble by definition, so it has no combination
///   setting). M inner steps from `x̃ = x_t` then use the variance-reduced gradient
///   `g = ∇L_k(x̃) − ∇L_k(x_t) + g_ens` of one model k each (in the config's [`VisitOrder`]):
///   `G ← μ₂G + g/‖g‖₁`, `x̃ ← P(x̃ − β·sign(G))`, the crate's [`Momentum`]. The outer
///   optimizer steps from `x_t` on the final inner momentum G. Every model gradient goes
///   through the config's [`GradientEstimator`] (DI, TI, VMI, SSA).
/// - **Defaults**: [`SvreConfig::paper`]: T = 10, β = ε/10, μ₂ = 1, M = n random models,
///   inner momentum reset each outer iteration; outer MI with α = ε/10, μ = 1.
/// - **Cost**: n + M − 1 forward/backward passes per outer iteration (the first inner step
///   is at the anchor, whose gradients are already known).
///
/// ```
/// use common_weakness::attack::{Svre, SvreConfig, VisitOrder};
/// use common_weakness::optim::Adam;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = Svre::new(SvreConfig::paper(ThreatModel::linf(16.0 / 255.0))).with_outer(Adam::new(0.01));
/// assert_eq!(attack.config.order, VisitOrder::Random);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Svre<O> {
    /// Display name.
    pub name: String,
    /// Hyper-parameters.
    pub config: SvreConfig,
    /// The outer optimizer, fed the final inner momentum.
    pub outer: O,
}

impl Svre<Momentum> {
    /// SVRE with an MI outer step of α = ε/10, μ = 1.
    pub fn new(config: SvreConfig) -> Self {
        let outer = Momentum { direction: config.threat.steepest(), ..Momentum::mi(config.threat.budget / 10.0, 1.0) };
        Self { name: "SVRE".into(), config, outer }
    }
}

impl<O> Svre<O> {
    /// Replaces the outer optimizer.
    pub fn with_outer<O2>(self, outer: O2) -> Svre<O2> {
        Svre { name: self.name, config: self.config, outer }
    }
}

impl<O> Svre<O> {
    /// The inner rule: `G ← μ₂G + g/‖g‖₁`, a steepest step of β along `G`.
    fn inner(&self) -> Momentum {
        let c = &self.config;
        Momentum { direction: c.threat.steepest(), ..Momentum::mi(c.inner_step_size, c.inner_momentum) }
    }

    /// Estimates every model gradient with `estimator` (DI, TI, VMI, SSA).
    pub fn with_gradient(mut self, estimator: GradientEstimator) -> Self {
        self.config.gradient = estimator;
        self
    }
}

/// The states of one SVRE run.
pub struct SvreState<OS> {
    outer: OS,
    /// The inner momentum `G`: the pseudo-gradient of the outer step.
    inner: Tensor<4>,
    /// VMI's variance terms, per model, at the anchor and in the inner steps.
    anchor_memories: Vec<EstimatorState>,
    inner_memories: Vec<EstimatorState>,
}

crate::snapshot_fields!(SvreState<OS> { outer, inner, anchor_memories, inner_memories });

impl<O> Iterate for Svre<O>
where
    O: OuterOptimizer,
{
    type State = SvreState<O::State>;

    fn plan(&self) -> Plan<'_> {
        let c = &self.config;
        Plan {
            name: &self.name,
            threat: c.threat,
            iterations: c.iterations,
            seed: c.seed,
            combination: Combination::LossMean,
            random_start: c.random_start,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "svre": { "name": self.name, "config": self.config, "outer": self.outer.config() } })
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        c.gradient.validate()?;
        positive("inner_step_size", c.inner_step_size)?;
        non_negative("inner_momentum", c.inner_momentum)?;
        if let Some(steps) = c.inner_steps {
            at_least_one("inner_steps", steps)?;
        }
        in_role("outer", self.outer.validate())
    }

    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        let memories = || (0..run.models()).map(|_| EstimatorState::default()).collect();
        SvreState {
            outer: self.outer.init(x),
            inner: Optimizer::init(&self.inner(), x),
            anchor_memories: memories(),
            inner_memories: memories(),
        }
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>> {
        let c = &self.config;
        let n = run.models();
        let weights = run.weights().to_vec();
        let total_weight: f64 = weights.iter().sum();
        // Every model's gradient at the anchor, and their weighted mean.
        let mut anchor_gradients = Vec::with_capacity(n);
        for index in 0..n {
            let gradient = run.gradient(&c.gradient, Of::Model(index), &x, &mut state.anchor_memories[index])?;
            run.compare(gradient.clone())?;
            anchor_gradients.push(gradient);
        }
        let ensemble_gradient = anchor_gradients
            .iter()
            .zip(&weights)
            .map(|(g, &w)| g.clone().mul_scalar((w / total_weight) as f32))
            .reduce(|a, b| a + b)
            .expect("an ensemble has at least one model");

        let inner = self.inner();
        if c.reset_inner_momentum {
            state.inner = Optimizer::init(&inner, &x);
        }
        let mut x_inner = x.clone();
        let visits = c.order.visits(n, c.inner_steps.unwrap_or(n), run.rng());
        for (step, k) in visits.into_iter().enumerate() {
            // The first inner point is the anchor itself, where ∇L_k(x̃) − g_k(x_t) = 0.
            let reduced = if step == 0 {
                ensemble_gradient.clone()
            } else {
                let here = run.gradient(&c.gradient, Of::Model(k), &x_inner, &mut state.inner_memories[k])?;
                here - anchor_gradients[k].clone() + ensemble_gradient.clone()
            };
            x_inner = run.step(run.inner_stage(k), x_inner, reduced, |g| inner.step(g, &mut state.inner))?;
        }
        let pseudo_gradient = state.inner.clone();
        run.step(Stage::Outer, x, pseudo_gradient, |g| self.outer.outer_step(PseudoGradient::new(g), &mut state.outer))
    }
}

serde_with_defaults!(SvreConfig, |threat, _| serde_json::to_value(SvreConfig::paper(threat))
    .expect("a configuration is JSON"));
