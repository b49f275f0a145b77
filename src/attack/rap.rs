//! RAP: reverse adversarial perturbation (Qin et al., NeurIPS 2022).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::defaults::serde_with_defaults;
use super::{Iterate, Of, Plan, Run};
use crate::check::{at_least_one, non_negative, positive};
use crate::ensemble::Combination;
use crate::error::{in_role, Result, Stage};
use crate::gradient::{EstimatorState, GradientEstimator};
use crate::optim::{Ascent, Momentum, OuterOptimizer, PseudoGradient, ReverseOptimizer, Sgd};
use crate::threat::ThreatModel;

/// RAP's hyper-parameters.
///
/// Read from JSON, only `threat` is required: every other field defaults to
/// [`RapConfig::paper`]'s value for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct RapConfig {
    /// The threat model.
    pub threat: ThreatModel,
    /// Outer iterations T (the paper: 400).
    pub iterations: usize,
    /// Step of the reverse perturbation (the paper: 2/255).
    #[serde(with = "crate::json_float")]
    pub reverse_step_size: f64,
    /// Reverse steps K per outer iteration (the paper: 10).
    pub reverse_steps: usize,
    /// Radius of the reverse perturbation's ball in the threat's norm; `None` leaves it
    /// unconstrained (the authors of CWA).
    #[serde(with = "crate::json_float::option")]
    pub reverse_budget: Option<f64>,
    /// Outer iterations before the reverse perturbation starts (RAP-LS; 0 = from the start).
    pub late_start: usize,
    /// Keep the reverse perturbation across outer iterations (the paper) instead of
    /// restarting it at zero each time (the CWA authors' `MI_RAP`).
    pub persistent: bool,
    /// Start from a random admissible point.
    pub random_start: bool,
    /// Seed of every random choice.
    pub seed: u64,
    /// Where the models are combined for the ensemble gradient (the logit mean by default).
    #[serde(default)]
    pub combination: Combination,
    /// How the ensemble gradient is estimated (reverse and outer steps): DI, TI, VMI, SSA or
    /// plain (the default).
    #[serde(default)]
    pub gradient: GradientEstimator,
}

impl RapConfig {
    /// The RAP paper's settings under `threat`: T = 400, K = 10, reverse step 2/255 and
    /// reverse budget 12/255 (scaled with ε/(16/255)), persistent, no late start.
    pub fn paper(threat: ThreatModel) -> Self {
        let scale = threat.budget / (16.0 / 255.0);
        Self {
            threat,
            iterations: 400,
            reverse_step_size: 2.0 / 255.0 * scale,
            reverse_steps: 10,
            reverse_budget: Some(12.0 / 255.0 * scale),
            late_start: 0,
            persistent: true,
            random_start: false,
            seed: 0,
            combination: Combination::LogitMean,
            gradient: GradientEstimator::default(),
        }
    }

    /// RAP-LS: the paper's settings with the reverse perturbation from iteration 100 on.
    pub fn late_start(threat: ThreatModel) -> Self {
        Self { late_start: 100, ..Self::paper(threat) }
    }

    /// The CWA authors' `MI_RAP`: T = 400, K = 10, r = 2/255, unconstrained, restarted every
    /// iteration, no late start.
    pub fn reference(threat: ThreatModel) -> Self {
        Self { reverse_step_size: 2.0 / 255.0, reverse_budget: None, persistent: false, ..Self::paper(threat) }
    }
}

/// RAP: reverse adversarial perturbation, `min_x max_n L(x + n)`.
///
/// - **Paper**: Qin et al., *Boosting the Transferability of Adversarial Attacks with Reverse
///   Adversarial Perturbation*, NeurIPS 2022.
/// - **Update**: each outer iteration (after the late start) runs K steepest ascent steps of
///   the ensemble objective on the reverse perturbation n (the crate's steepest [`Sgd`] fed
///   the [`Ascent`], as CWA's reverse step), clipped to its ball; then the outer optimizer
///   steps from `x_t` on the ensemble gradient at `x_t + n`. Every ensemble gradient goes
///   through the config's [`GradientEstimator`] and combines the models at its
///   [`Combination`].
/// - **Defaults**: [`RapConfig::paper`]: T = 400, K = 10, reverse step 2/255 and reverse
///   budget 12/255 (scaled with ε/(16/255)), persistent n; outer MI with α = 2/255 (scaled),
///   μ = 1.
/// - **Cost**: K + 1 ensemble forward/backward passes per outer iteration.
///
/// ```
/// use common_weakness::attack::{Rap, RapConfig};
/// use common_weakness::threat::ThreatModel;
///
/// let attack = Rap::new(RapConfig::late_start(ThreatModel::linf(16.0 / 255.0)));
/// assert_eq!(attack.config.late_start, 100);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rap<O> {
    /// Display name.
    pub name: String,
    /// Hyper-parameters.
    pub config: RapConfig,
    /// The outer optimizer.
    pub outer: O,
}

impl Rap<Momentum> {
    /// RAP with an MI outer step of α = 2/255 (scaled with ε/(16/255)), μ = 1.
    pub fn new(config: RapConfig) -> Self {
        let step = 2.0 / 255.0 * config.threat.budget / (16.0 / 255.0);
        let outer = Momentum { direction: config.threat.steepest(), ..Momentum::mi(step, 1.0) };
        Self { name: "RAP".into(), config, outer }
    }
}

impl<O> Rap<O> {
    /// Replaces the outer optimizer.
    pub fn with_outer<O2>(self, outer: O2) -> Rap<O2> {
        Rap { name: self.name, config: self.config, outer }
    }
}

impl<O> Rap<O> {
    /// The reverse rule: a steepest ascent step of the reverse step size.
    fn reverse(&self) -> Sgd {
        Sgd::steepest(self.config.reverse_step_size, self.config.threat.steepest())
    }

    /// Estimates every ensemble gradient with `estimator` (DI, TI, VMI, SSA).
    pub fn with_gradient(mut self, estimator: GradientEstimator) -> Self {
        self.config.gradient = estimator;
        self
    }
}

/// The states of one RAP run.
pub struct RapState<OS> {
    outer: OS,
    /// The reverse perturbation n.
    reverse: Tensor<4>,
    /// VMI's variance terms of the reverse and outer gradients.
    reverse_memory: EstimatorState,
    outer_memory: EstimatorState,
}

crate::snapshot_fields!(RapState<OS> { outer, reverse, reverse_memory, outer_memory });

impl<O> Iterate for Rap<O>
where
    O: OuterOptimizer,
{
    type State = RapState<O::State>;

    fn plan(&self) -> Plan<'_> {
        let c = &self.config;
        Plan {
            name: &self.name,
            threat: c.threat,
            iterations: c.iterations,
            seed: c.seed,
            combination: c.combination,
            random_start: c.random_start,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "rap": { "name": self.name, "config": self.config, "outer": self.outer.config() } })
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        c.gradient.validate()?;
        positive("reverse_step_size", c.reverse_step_size)?;
        at_least_one("reverse_steps", c.reverse_steps)?;
        if let Some(radius) = c.reverse_budget {
            non_negative("reverse_budget", radius)?;
        }
        in_role("outer", self.outer.validate())
    }

    fn init(&self, _run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        RapState {
            outer: self.outer.init(x),
            reverse: x.zeros_like(),
            reverse_memory: EstimatorState::default(),
            outer_memory: EstimatorState::default(),
        }
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>> {
        let c = &self.config;
        if run.iteration() > c.late_start {
            if !c.persistent {
                state.reverse = x.zeros_like();
            }
            let reverse = self.reverse();
            for _ in 0..c.reverse_steps {
                let at = x.clone() + state.reverse.clone();
                let gradient = run.gradient(&c.gradient, Of::Ensemble, &at, &mut state.reverse_memory)?;
                let step = run
                    .checked_update(Stage::Reverse, &at, gradient, |g| reverse.reverse_step(Ascent::of(g), &mut ()))?;
                let moved = state.reverse.clone() + step;
                state.reverse = match c.reverse_budget {
                    Some(budget) => ThreatModel { norm: c.threat.norm, budget }.clip_perturbation(moved),
                    None => moved,
                };
            }
        }
        let at = x.clone() + state.reverse.clone();
        let gradient = run.gradient(&c.gradient, Of::Ensemble, &at, &mut state.outer_memory)?;
        run.step(Stage::Outer, x, gradient, |g| self.outer.outer_step(PseudoGradient::new(g), &mut state.outer))
    }
}

serde_with_defaults!(RapConfig, |threat, _| serde_json::to_value(RapConfig::paper(threat))
    .expect("a configuration is JSON"));
