//! The one configuration schema of every attack the crate can build, and what every run
//! records.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::cwa::CwaState;
use super::order::VisitOrder;
use super::rap::RapState;
use super::smer::SmerState;
use super::svre::SvreState;
use super::{Attack, Cwa, Iterate, Plan, Rap, Run, Smer, Svre};
use crate::error::{Error, Result};
use crate::optim::{AnyOptimizer, AnyState};
use crate::snapshot::{mismatch, Saved, Snapshot};

/// Any attack of the crate with any built-in optimizers in its roles, tagged by kind in JSON
/// (`{"cwa": {...}}`, `{"svre": {...}}`, `{"rap": {...}}`, `{"smer": {...}}`). It expresses compositions (an
/// MI-CWA with an Adam outer step and DI+TI gradients is one value) and is exactly what a run
/// records in [`RunInfo::config`](crate::observe::RunInfo::config), so a recorded run runs
/// again from its JSON alone.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::attack::AttackConfig;
/// use common_weakness::gradient::{GaussianSmoothing, GradientEstimator};
/// use common_weakness::optim::Adam;
/// use common_weakness::prelude::*;
///
/// let model = from_fn("brightness", |x: Tensor<4>| {
///     let mean = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
///     Tensor::cat(vec![mean.clone(), mean.neg()], 1)
/// });
/// let ensemble = Ensemble::new(vec![Box::new(model)])?;
/// let images = Tensor::<4>::full([1, 1, 4, 4], 0.5, &Default::default());
/// let objective = Objective::untargeted(vec![0]);
/// let composed = Cwa::mi_cwa(CwaConfig::paper(0.1))
///     .with_outer(Adam::new(0.01))
///     .with_gradient(GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 }));
/// let first = composed.run(&ensemble, images.clone(), &objective)?;
/// // The record alone rebuilds the attack.
/// let again = AttackConfig::from_record(&first.info.config)?.build();
/// let second = again.run(&ensemble, images, &objective)?;
/// assert_eq!(first.adversarial.into_data(), second.adversarial.into_data());
/// # Ok::<(), common_weakness::Error>(())
/// ```
///
/// It is itself an attack ([`Iterate`], so [`Attack`]): a configuration read from JSON or
/// built by the registry runs per image, over a dataset and as a universal perturbation
/// through the [`Executor`](super::Executor), with the same bits as the attack it describes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
// One configuration per run: its size does not matter, and boxing the engine's variant would
// make every match and constructor of it indirect.
#[allow(clippy::large_enum_variant)]
pub enum AttackConfig {
    /// The CWA engine: CWA, MI-SAM, MI-CSE and every baseline (FGSM … SSA).
    Cwa(Cwa<AnyOptimizer, AnyOptimizer, AnyOptimizer>),
    /// SVRE.
    Svre(Svre<AnyOptimizer>),
    /// RAP.
    Rap(Rap<AnyOptimizer>),
    /// SMER.
    Smer(Smer<AnyOptimizer>),
}

impl AttackConfig {
    /// Reads a run's recorded configuration ([`RunInfo::config`](crate::observe::RunInfo::config)).
    /// A record of an attack with a custom optimizer fails, naming the unknown variant
    /// `custom`: only the crate's optimizers can be rebuilt from JSON.
    pub fn from_record(config: &serde_json::Value) -> Result<Self> {
        Ok(Self::deserialize(config)?)
    }

    /// Whether the attack draws random numbers — a random start, a shuffled or random visiting
    /// order, input diversity or sampling — so that its result depends on its seed. A
    /// benchmark repeats such attacks over several seeds ([`with_seed`](Self::with_seed)).
    ///
    /// ```
    /// use common_weakness::attack::registry;
    ///
    /// let random: Vec<&str> =
    ///     registry().into_iter().filter(|e| e.defaults.config().uses_randomness()).map(|e| e.name).collect();
    /// assert_eq!(random, ["PGD", "DI-MI-FGSM", "VMI-FGSM", "SSA", "SVRE", "VMI-CWA", "SSA-CWA"]);
    /// ```
    pub fn uses_randomness(&self) -> bool {
        match self {
            AttackConfig::Cwa(attack) => {
                let s = &attack.settings;
                s.random_start
                    || s.order != VisitOrder::Fixed
                    || s.ensemble_gradient.is_random()
                    || s.model_gradient.is_random()
            }
            AttackConfig::Svre(attack) => {
                let c = &attack.config;
                c.random_start || c.order != VisitOrder::Fixed || c.gradient.is_random()
            }
            AttackConfig::Rap(attack) => attack.config.random_start || attack.config.gradient.is_random(),
            // Its visiting orders are random.
            AttackConfig::Smer(_) => true,
        }
    }

    /// The same attack with another seed for every random choice.
    pub fn with_seed(mut self, seed: u64) -> Self {
        match &mut self {
            AttackConfig::Cwa(attack) => attack.settings.seed = seed,
            AttackConfig::Svre(attack) => attack.config.seed = seed,
            AttackConfig::Rap(attack) => attack.config.seed = seed,
            AttackConfig::Smer(attack) => attack.config.seed = seed,
        }
        self
    }

    /// The attack, ready to run, as a trait object.
    pub fn build(&self) -> Box<dyn Attack> {
        Box::new(self.clone())
    }
}

/// The state of an [`AttackConfig`]'s run: its attack's own (boxed: a tensor is hundreds of
/// bytes with every backend enabled, and the states differ in size).
pub enum AttackConfigState {
    /// A CWA-engine attack's optimizer and estimator states.
    Cwa(Box<CwaState<AnyState, AnyState, AnyState>>),
    /// SVRE's.
    Svre(Box<SvreState<AnyState>>),
    /// RAP's.
    Rap(Box<RapState<AnyState>>),
    /// SMER's.
    Smer(Box<SmerState<AnyState>>),
}

impl Snapshot for AttackConfigState {
    fn save(&self) -> Saved {
        let (name, state) = match self {
            AttackConfigState::Cwa(state) => ("cwa", state.save()),
            AttackConfigState::Svre(state) => ("svre", state.save()),
            AttackConfigState::Rap(state) => ("rap", state.save()),
            AttackConfigState::Smer(state) => ("smer", state.save()),
        };
        Saved::Variant(name.to_string(), Box::new(state))
    }

    fn load(saved: &Saved, device: &Device) -> Result<Self> {
        match saved.variant()? {
            ("cwa", state) => Ok(AttackConfigState::Cwa(Box::new(Snapshot::load(state, device)?))),
            ("svre", state) => Ok(AttackConfigState::Svre(Box::new(Snapshot::load(state, device)?))),
            ("rap", state) => Ok(AttackConfigState::Rap(Box::new(Snapshot::load(state, device)?))),
            ("smer", state) => Ok(AttackConfigState::Smer(Box::new(Snapshot::load(state, device)?))),
            _ => Err(mismatch("a CWA, SVRE, RAP or SMER state")),
        }
    }
}

impl Iterate for AttackConfig {
    type State = AttackConfigState;

    fn plan(&self) -> Plan<'_> {
        match self {
            AttackConfig::Cwa(attack) => attack.plan(),
            AttackConfig::Svre(attack) => attack.plan(),
            AttackConfig::Rap(attack) => attack.plan(),
            AttackConfig::Smer(attack) => attack.plan(),
        }
    }

    fn config(&self) -> serde_json::Value {
        match self {
            AttackConfig::Cwa(attack) => Iterate::config(attack),
            AttackConfig::Svre(attack) => Iterate::config(attack),
            AttackConfig::Rap(attack) => Iterate::config(attack),
            AttackConfig::Smer(attack) => Iterate::config(attack),
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            AttackConfig::Cwa(attack) => attack.validate(),
            AttackConfig::Svre(attack) => attack.validate(),
            AttackConfig::Rap(attack) => attack.validate(),
            AttackConfig::Smer(attack) => attack.validate(),
        }
    }

    fn init(&self, run: &Run<'_>, x: &Tensor<4>) -> AttackConfigState {
        match self {
            AttackConfig::Cwa(attack) => AttackConfigState::Cwa(Box::new(attack.init(run, x))),
            AttackConfig::Svre(attack) => AttackConfigState::Svre(Box::new(attack.init(run, x))),
            AttackConfig::Rap(attack) => AttackConfigState::Rap(Box::new(attack.init(run, x))),
            AttackConfig::Smer(attack) => AttackConfigState::Smer(Box::new(attack.init(run, x))),
        }
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut AttackConfigState, x: Tensor<4>) -> Result<Tensor<4>> {
        match (self, state) {
            (AttackConfig::Cwa(attack), AttackConfigState::Cwa(state)) => attack.iterate(run, state, x),
            (AttackConfig::Svre(attack), AttackConfigState::Svre(state)) => attack.iterate(run, state, x),
            (AttackConfig::Rap(attack), AttackConfigState::Rap(state)) => attack.iterate(run, state, x),
            (AttackConfig::Smer(attack), AttackConfigState::Smer(state)) => attack.iterate(run, state, x),
            // Only a restored state can belong to another kind of attack.
            _ => Err(Error::InvalidCheckpoint("the saved state belongs to another kind of attack".into())),
        }
    }
}

impl<R, I, O> From<Cwa<R, I, O>> for AttackConfig
where
    R: Into<AnyOptimizer>,
    I: Into<AnyOptimizer>,
    O: Into<AnyOptimizer>,
{
    fn from(attack: Cwa<R, I, O>) -> Self {
        AttackConfig::Cwa(Cwa {
            name: attack.name,
            settings: attack.settings,
            reverse: attack.reverse.map(Into::into),
            inner: attack.inner.map(Into::into),
            outer: attack.outer.into(),
        })
    }
}

impl<O: Into<AnyOptimizer>> From<Svre<O>> for AttackConfig {
    fn from(attack: Svre<O>) -> Self {
        AttackConfig::Svre(Svre { name: attack.name, config: attack.config, outer: attack.outer.into() })
    }
}

impl<O: Into<AnyOptimizer>> From<Rap<O>> for AttackConfig {
    fn from(attack: Rap<O>) -> Self {
        AttackConfig::Rap(Rap { name: attack.name, config: attack.config, outer: attack.outer.into() })
    }
}

impl<O: Into<AnyOptimizer>> From<Smer<O>> for AttackConfig {
    fn from(attack: Smer<O>) -> Self {
        AttackConfig::Smer(Smer { name: attack.name, config: attack.config, outer: attack.outer.into() })
    }
}
