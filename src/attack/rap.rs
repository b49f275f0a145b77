//! RAP: reverse adversarial perturbation (Qin et al., NeurIPS 2022).

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::run::{Run, RunSetup};
use super::{Attack, AttackOutcome};
use crate::check::{at_least_one, non_negative, positive};
use crate::ensemble::Ensemble;
use crate::error::{in_role, Result, Stage};
use crate::norm::Direction;
use crate::objective::Objective;
use crate::observe::{Control, Observer};
use crate::optim::{Momentum, OuterOptimizer};
use crate::threat::ThreatModel;

/// RAP's hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

/// RAP: `min_x max_n L(x + n)`. Each outer iteration (after the late start) runs K steepest
/// ascent steps of the ensemble objective on the reverse perturbation n (clipped to its
/// ball), then the outer optimizer steps from `x_t` on the ensemble gradient at `x_t + n`
/// (MI-FGSM's rule by default, α = 2/255 scaled with ε as in the paper).
///
/// Cost per outer iteration: K + 1 ensemble forward/backward passes.
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

impl<B, O> Attack<B> for Rap<O>
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
            positive("reverse_step_size", c.reverse_step_size)?;
            at_least_one("reverse_steps", c.reverse_steps)?;
            if let Some(radius) = c.reverse_budget {
                non_negative("reverse_budget", radius)?;
            }
            in_role("outer", self.outer.validate())
        };
        let setup = RunSetup {
            name: &self.name,
            config: serde_json::json!({ "name": self.name, "config": self.config, "outer": self.outer.config() }),
            threat: c.threat,
            iterations: c.iterations,
            seed: c.seed,
            combination: None,
            random_start: c.random_start,
            checks: &checks,
        };
        let mut run = Run::start(setup, ensemble, images, objective, observer)?;
        let ascent: Direction = c.threat.steepest();
        let mut x = run.starting_point();
        let mut outer_state = self.outer.init(&x);
        let mut reverse = x.zeros_like();

        for iteration in 1..=c.iterations {
            let started = Instant::now();
            let mut losses = run.losses();
            if iteration > c.late_start {
                if !c.persistent {
                    reverse = x.zeros_like();
                }
                for _ in 0..c.reverse_steps {
                    let at = x.clone() + reverse.clone();
                    let mut evaluation = run.evaluator.ensemble(&at, None)?;
                    losses.note(&mut evaluation);
                    let step = run.checked_update(Stage::Reverse, iteration, &at, evaluation.gradient, |g| {
                        ascent.apply(g).mul_scalar(c.reverse_step_size as f32)
                    })?;
                    reverse = match c.reverse_budget {
                        Some(budget) => ThreatModel { norm: c.threat.norm, budget }.clip_perturbation(reverse + step),
                        None => reverse + step,
                    };
                }
            }
            let mut evaluation = run.evaluator.ensemble(&(x.clone() + reverse.clone()), None)?;
            losses.note(&mut evaluation);
            x = run.step(Stage::Outer, iteration, x, evaluation.gradient, |g| self.outer.step(g, &mut outer_state))?;
            if run.record(iteration, losses, &[], &x, started, observer)? == Control::Stop {
                break;
            }
        }
        run.finish(x, observer)
    }
}
