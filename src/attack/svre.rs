//! SVRE: stochastic variance-reduced ensemble attack (Xiong et al., CVPR 2022).

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::run::{Run, RunSetup};
use super::{Attack, AttackOutcome, Flavor};
use crate::check::{at_least_one, non_negative, positive};
use crate::ensemble::{Combination, Ensemble};
use crate::error::{in_role, Result, Stage};
use crate::norm::Normalization;
use crate::objective::Objective;
use crate::observe::{Control, Observer};
use crate::optim::{Momentum, OuterOptimizer};
use crate::threat::ThreatModel;

/// SVRE's hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Pick each inner step's model at random (the paper) instead of in order (the authors).
    pub random_models: bool,
    /// Reset the inner momentum every outer iteration (the paper; the authors keep it).
    pub reset_inner_momentum: bool,
    /// Start from a random admissible point.
    pub random_start: bool,
    /// Seed of every random choice.
    pub seed: u64,
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
            random_models: true,
            reset_inner_momentum: true,
            random_start: false,
            seed: 0,
        }
    }

    /// The authors' `MI_SVRE` where it is sound: models in order, inner momentum kept across
    /// outer iterations (its sign-accumulating inner momentum, unnormalised outer momentum
    /// and missing [0, 1] clip are not reproduced; see `docs/algorithms.md`).
    pub fn reference(threat: ThreatModel) -> Self {
        Self { random_models: false, reset_inner_momentum: false, ..Self::paper(threat) }
    }

    /// The settings of `flavor`.
    pub fn flavor(threat: ThreatModel, flavor: Flavor) -> Self {
        match flavor {
            Flavor::Paper => Self::paper(threat),
            Flavor::Reference => Self::reference(threat),
        }
    }
}

/// SVRE: each outer iteration takes every model's gradient at `x_t` and their weighted mean
/// `g_ens` (the loss ensemble). M inner steps from `x̃ = x_t` then use the variance-reduced
/// gradient `g = ∇L_k(x̃) − ∇L_k(x_t) + g_ens` of one model k each:
/// `G ← μ₂G + g/‖g‖₁`, `x̃ ← P(x̃ − β·sign(G))`. The outer optimizer steps from `x_t` on
/// the final inner momentum G (MI-FGSM's rule by default: α = ε/10, μ = 1).
///
/// Cost per outer iteration: n + M − 1 forward/backward passes (the first inner step is at
/// the anchor, whose gradients are already known).
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

impl<B, O> Attack<B> for Svre<O>
where
    B: AutodiffBackend,
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
        let c = &self.config;
        let checks = || {
            positive("inner_step_size", c.inner_step_size)?;
            non_negative("inner_momentum", c.inner_momentum)?;
            if let Some(steps) = c.inner_steps {
                at_least_one("inner_steps", steps)?;
            }
            in_role("outer", self.outer.validate())
        };
        let setup = RunSetup {
            name: &self.name,
            config: serde_json::json!({ "name": self.name, "config": self.config, "outer": self.outer.config() }),
            threat: c.threat,
            iterations: c.iterations,
            seed: c.seed,
            combination: Some(Combination::LossMean),
            random_start: c.random_start,
            checks: &checks,
        };
        let mut run = Run::start(setup, ensemble, images, objective, observer)?;
        let n = run.models();
        let steps = c.inner_steps.unwrap_or(n);
        let weights = ensemble.weights();
        let total_weight: f64 = weights.iter().sum();
        let direction = c.threat.steepest();
        let mut x = run.starting_point();
        let mut outer_state = self.outer.init(&x);
        let mut inner_momentum = x.zeros_like();

        for iteration in 1..=c.iterations {
            let started = Instant::now();
            let mut losses = run.losses();
            // Every model's gradient at the anchor, and their weighted mean.
            let mut anchor_gradients = Vec::with_capacity(n);
            for index in 0..n {
                let mut evaluation = run.evaluator.model(index, &x, None)?;
                losses.note(&mut evaluation);
                anchor_gradients.push(evaluation.gradient);
            }
            let ensemble_gradient = anchor_gradients
                .iter()
                .zip(weights)
                .map(|(g, &w)| g.clone().mul_scalar((w / total_weight) as f32))
                .reduce(|a, b| a + b)
                .expect("an ensemble has at least one model");

            if c.reset_inner_momentum {
                inner_momentum = x.zeros_like();
            }
            let mut x_inner = x.clone();
            for step in 0..steps {
                let k = if c.random_models { (run.rng.unit() * n as f32) as usize % n } else { step % n };
                // The first inner point is the anchor itself, where ∇L_k(x̃) − g_k(x_t) = 0.
                let reduced = if step == 0 {
                    ensemble_gradient.clone()
                } else {
                    let here = run.evaluator.model(k, &x_inner, None)?.gradient;
                    here - anchor_gradients[k].clone() + ensemble_gradient.clone()
                };
                x_inner = run.step(run.inner_stage(k), iteration, x_inner, reduced, |g| {
                    inner_momentum =
                        inner_momentum.clone().mul_scalar(c.inner_momentum as f32) + Normalization::L1.apply(g);
                    direction.apply(inner_momentum.clone()).mul_scalar(-c.inner_step_size as f32)
                })?;
            }
            let pseudo_gradient = inner_momentum.clone();
            x = run.step(Stage::Outer, iteration, x, pseudo_gradient, |g| self.outer.step(g, &mut outer_state))?;
            if run.record(iteration, losses, &anchor_gradients, &x, started, observer)? == Control::Stop {
                break;
            }
        }
        run.finish(x, observer)
    }
}
