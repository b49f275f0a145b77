//! SMER: stochastic mini-batch sweeps over the models with ensemble reweighing (Tang et al.,
//! CVPR 2024).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::defaults::serde_with_defaults;
use super::order::VisitOrder;
use super::{Iterate, Plan, Run};
use crate::check::{at_least_one, non_negative, positive};
use crate::ensemble::Combination;
use crate::error::{in_role, Error, Result, Stage};
use crate::objective::LossKind;
use crate::optim::{Momentum, Optimizer, OuterOptimizer, PseudoGradient};
use crate::threat::ThreatModel;

/// SMER's hyper-parameters.
///
/// Read from JSON, only `threat` is required: every other field defaults to
/// [`SmerConfig::paper`]'s value for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct SmerConfig {
    /// The threat model.
    pub threat: ThreatModel,
    /// Outer iterations T.
    pub iterations: usize,
    /// The inner step β (each sweep step) and the outer MI step of [`Smer::new`].
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Inner momentum μ.
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// Sweeps per outer iteration, each visiting every model once in a fresh random order
    /// (the paper's m = rounds·n mini-batch steps).
    pub rounds: usize,
    /// The learning rate of the SGD step on the model weights (0 keeps them at 1).
    #[serde(with = "crate::json_float")]
    pub learning_rate: f64,
    /// The weight decay of the SGD step on the model weights.
    #[serde(with = "crate::json_float")]
    pub weight_decay: f64,
    /// Start from a random admissible point.
    pub random_start: bool,
    /// Seed of every random choice (the start and the visiting orders).
    pub seed: u64,
}

impl SmerConfig {
    /// TransferAttack's settings: T = 10, β = ε/T, μ = 1, 4 sweeps, SGD with learning rate
    /// 0.02 and weight decay 0.002 on the weights, a random start.
    pub fn paper(threat: ThreatModel) -> Self {
        Self {
            threat,
            iterations: 10,
            step_size: threat.budget / 10.0,
            momentum: 1.0,
            rounds: 4,
            learning_rate: 0.02,
            weight_decay: 0.002,
            random_start: true,
            seed: 0,
        }
    }
}

/// SMER: sweeps of single-model steps in random order whose models' logits are scaled by
/// weights learned along the way.
///
/// - **Paper**: Tang et al., *Ensemble Diversity Facilitates Adversarial Transferability*,
///   CVPR 2024.
/// - **Update**: each outer iteration, from `x̃ = x_t` with a fresh inner momentum `G = 0`,
///   m = rounds·n steps, each on one model k of a fresh random permutation per sweep:
///   1. `g = ∇_x̃ L(w_k·z_k(x̃))`, the objective of model k's logits scaled by its weight;
///   2. the weights take one SGD step toward the adversarial goal on the reweighted
///      ensemble: `w ← max(0, w − lr·(∇_w L(Σ_i w_i·z_i(x̃)/n)/|L| + λ·w))` (TransferAttack's
///      `−log CE` loss; per image; kept ≥ 0 here, as a negative weight would turn a model's
///      logits around);
///   3. `G ← μG + g/‖g‖₁`, `x̃ ← P(x̃ − β·s(G))`, the crate's [`Momentum`].
///
///   The outer optimizer steps from `x_t` on the final inner momentum G. The weights start
///   at 1 and live for the whole run, one vector per image, and each iteration's record
///   carries their shares (`IterationRecord::model_weights`) (TransferAttack keeps one vector
///   for every batch of the dataset, so its results depend on the batches before; here each
///   image has its own, so results do not depend on the batch). Targeted, the weights step
///   toward the target (TransferAttack's port raises the targeted loss instead). It needs
///   the cross-entropy loss and models with outputs of one size.
/// - **Defaults**: [`SmerConfig::paper`]; outer MI with α = ε/T, μ = 1.
/// - **Cost**: per outer iteration, rounds·n forward/backward passes of one model and
///   rounds·n² forward passes for the weights (n = 5, 4 sweeps: 20 and 100).
///
/// ```
/// use common_weakness::attack::{Smer, SmerConfig};
/// use common_weakness::optim::Adam;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = Smer::new(SmerConfig::paper(ThreatModel::linf(16.0 / 255.0))).with_outer(Adam::new(0.01));
/// assert_eq!(attack.config.rounds, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smer<O> {
    /// Display name.
    pub name: String,
    /// Hyper-parameters.
    pub config: SmerConfig,
    /// The outer optimizer, fed the final inner momentum.
    pub outer: O,
}

impl Smer<Momentum> {
    /// SMER with an MI outer step of α = `step_size`, μ = 1.
    pub fn new(config: SmerConfig) -> Self {
        let outer = Momentum { direction: config.threat.steepest(), ..Momentum::mi(config.step_size, 1.0) };
        Self { name: "SMER".into(), config, outer }
    }
}

impl<O> Smer<O> {
    /// Replaces the outer optimizer (e.g. Adam instead of MI momentum).
    pub fn with_outer<O2>(self, outer: O2) -> Smer<O2> {
        Smer { name: self.name, config: self.config, outer }
    }

    /// The inner rule: `G ← μG + g/‖g‖₁`, a steepest step of β along `G`.
    fn inner(&self) -> Momentum {
        let c = &self.config;
        Momentum { direction: c.threat.steepest(), ..Momentum::mi(c.step_size, c.momentum) }
    }
}

/// The states of one SMER run.
pub struct SmerState<OS> {
    outer: OS,
    /// Each image's model weights `[N, models]`.
    weights: Tensor<2>,
}

crate::snapshot_fields!(SmerState<OS> { outer, weights });

impl<O> Iterate for Smer<O>
where
    O: OuterOptimizer,
{
    type State = SmerState<O::State>;

    fn plan(&self) -> Plan<'_> {
        let c = &self.config;
        Plan {
            name: &self.name,
            threat: c.threat,
            iterations: c.iterations,
            seed: c.seed,
            combination: Combination::LogitMean,
            random_start: c.random_start,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "smer": { "name": self.name, "config": self.config, "outer": self.outer.config() } })
    }

    fn validate(&self) -> Result<()> {
        let c = &self.config;
        positive("step_size", c.step_size)?;
        non_negative("momentum", c.momentum)?;
        at_least_one("rounds", c.rounds)?;
        non_negative("learning_rate", c.learning_rate)?;
        non_negative("weight_decay", c.weight_decay)?;
        in_role("outer", self.outer.validate())
    }

    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        let images = x.dims()[0];
        let weights = Tensor::ones([images, run.models()], &x.device());
        SmerState { outer: self.outer.init(x), weights }
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>> {
        let c = &self.config;
        if !run.per_image() {
            return Err(Error::InvalidParameter {
                name: "rounds",
                value: c.rounds as f64,
                requirement: "SMER learns each image's model weights: per-image attacks only",
            });
        }
        if run.evaluator().objective().loss_kind() != Some(LossKind::CrossEntropy) {
            return Err(Error::InvalidObjective(
                "SMER's weights step on the logarithm of the cross-entropy: use that loss",
            ));
        }
        let n = run.models();
        let inner = self.inner();
        let mut momentum = Optimizer::init(&inner, &x);
        let mut x_inner = x.clone();
        for k in VisitOrder::Shuffled.visits(n, c.rounds * n, run.rng()) {
            let scale = state.weights.clone().narrow(1, k, 1);
            let gradient = run.evaluator().scaled_model(k, &x_inner, scale)?;
            let weights_gradient = run.evaluator().weights_gradient(&x_inner, &state.weights)?;
            let decay = state.weights.clone().mul_scalar(c.weight_decay as f32);
            state.weights =
                (state.weights.clone() - (weights_gradient + decay).mul_scalar(c.learning_rate as f32)).clamp_min(0.0);
            x_inner = run.step(run.inner_stage(k), x_inner, gradient, |g| inner.step(g, &mut momentum))?;
        }
        run.record_weights(state.weights.clone());
        run.step(Stage::Outer, x, momentum, |g| self.outer.outer_step(PseudoGradient::new(g), &mut state.outer))
    }
}

serde_with_defaults!(SmerConfig, |threat, _| serde_json::to_value(SmerConfig::paper(threat))
    .expect("a configuration is JSON"));
