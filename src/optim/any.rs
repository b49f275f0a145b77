//! Any built-in optimizer as one serialisable type: how a configuration names the optimizer
//! of a role, and what every built-in optimizer records about itself.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Adam, AdamState, DecayIndicator, DecayIndicatorState, Momentum, Nesterov, Optimizer, PatchWise, Sgd};
use crate::error::Result;
use crate::snapshot::{mismatch, Saved, Snapshot};

/// One of the crate's optimizers, tagged by kind in JSON (`{"momentum": {...}}`). The
/// attacks of an [`AttackConfig`](crate::attack::AttackConfig) use it in every role, so any
/// composition of the built-in optimizers reads back from JSON and runs.
///
/// ```
/// use common_weakness::optim::{AnyOptimizer, Momentum};
///
/// let json = r#"{"momentum": {"step_size": 0.01, "momentum": 1.0, "normalize": "L1", "direction": "Sign"}}"#;
/// let optimizer: AnyOptimizer = serde_json::from_str(json).unwrap();
/// assert_eq!(optimizer, AnyOptimizer::Momentum(Momentum::mi(0.01, 1.0)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum AnyOptimizer {
    /// [`Sgd`]: plain, sign or normalised steps.
    Sgd(Sgd),
    /// [`Momentum`]: MI, NI and the CWA inner rule.
    Momentum(Momentum),
    /// [`Nesterov`] momentum.
    Nesterov(Nesterov),
    /// [`Adam`] (and AMSGrad).
    Adam(Adam),
    /// [`PatchWise`]: PI-FGSM's amplified steps.
    PatchWise(PatchWise),
    /// [`DecayIndicator`]: GRA's momentum.
    DecayIndicator(DecayIndicator),
}

/// The state of an [`AnyOptimizer`]: its optimizer's own state.
pub struct AnyState(State);

// A Burn 0.22 tensor is type-erased storage as large as the largest enabled backend's
// (about 600 bytes with LibTorch and wgpu); boxing it would add an indirection per step for
// a handful of values per run.
#[allow(clippy::large_enum_variant)]
enum State {
    Stateless,
    Buffer(Tensor<4>),
    Adam(AdamState),
    DecayIndicator(DecayIndicatorState),
}

impl AnyState {
    /// The state's buffer for a buffer-keeping optimizer, fresh if the state was another kind
    /// (a state from a different optimizer is never misread).
    fn buffer(&mut self, like: &Tensor<4>) -> &mut Tensor<4> {
        if !matches!(self.0, State::Buffer(_)) {
            self.0 = State::Buffer(like.zeros_like());
        }
        match &mut self.0 {
            State::Buffer(buffer) => buffer,
            _ => unreachable!("set to a buffer above"),
        }
    }
}

impl Snapshot for AnyState {
    fn save(&self) -> Saved {
        let (name, value) = match &self.0 {
            State::Stateless => ("stateless", Saved::List(Vec::new())),
            State::Buffer(buffer) => ("buffer", buffer.save()),
            State::Adam(adam) => ("adam", adam.save()),
            State::DecayIndicator(state) => ("decay-indicator", state.save()),
        };
        Saved::Variant(name.to_string(), Box::new(value))
    }

    fn load(saved: &Saved, device: &Device) -> Result<Self> {
        Ok(Self(match saved.variant()? {
            ("stateless", value) => <()>::load(value, device).map(|()| State::Stateless)?,
            ("buffer", buffer) => State::Buffer(Snapshot::load(buffer, device)?),
            ("adam", adam) => State::Adam(Snapshot::load(adam, device)?),
            ("decay-indicator", state) => State::DecayIndicator(Snapshot::load(state, device)?),
            _ => return Err(mismatch("an optimizer state (stateless, buffer, adam or decay-indicator)")),
        }))
    }
}

macro_rules! from_optimizer {
    ($($variant:ident),*) => {$(
        impl From<$variant> for AnyOptimizer {
            fn from(optimizer: $variant) -> Self {
                AnyOptimizer::$variant(optimizer)
            }
        }
    )*};
}
from_optimizer!(Sgd, Momentum, Nesterov, Adam, PatchWise, DecayIndicator);

impl Optimizer for AnyOptimizer {
    type State = AnyState;

    fn init(&self, like: &Tensor<4>) -> AnyState {
        AnyState(match self {
            AnyOptimizer::Sgd(_) => State::Stateless,
            AnyOptimizer::Momentum(o) => State::Buffer(o.init(like)),
            AnyOptimizer::Nesterov(o) => State::Buffer(o.init(like)),
            AnyOptimizer::PatchWise(o) => State::Buffer(o.init(like)),
            AnyOptimizer::Adam(o) => State::Adam(o.init(like)),
            AnyOptimizer::DecayIndicator(o) => State::DecayIndicator(o.init(like)),
        })
    }

    fn step(&self, gradient: Tensor<4>, state: &mut AnyState) -> Tensor<4> {
        match self {
            AnyOptimizer::Sgd(o) => o.step(gradient, &mut ()),
            AnyOptimizer::Momentum(o) => o.step(gradient.clone(), state.buffer(&gradient)),
            AnyOptimizer::Nesterov(o) => o.step(gradient.clone(), state.buffer(&gradient)),
            AnyOptimizer::PatchWise(o) => o.step(gradient.clone(), state.buffer(&gradient)),
            AnyOptimizer::Adam(o) => {
                if !matches!(state.0, State::Adam(_)) {
                    state.0 = State::Adam(o.init(&gradient));
                }
                match &mut state.0 {
                    State::Adam(adam) => o.step(gradient, adam),
                    _ => unreachable!("set to Adam's state above"),
                }
            }
            AnyOptimizer::DecayIndicator(o) => {
                if !matches!(state.0, State::DecayIndicator(_)) {
                    state.0 = State::DecayIndicator(o.init(&gradient));
                }
                match &mut state.0 {
                    State::DecayIndicator(indicator) => o.step(gradient, indicator),
                    _ => unreachable!("set to the decay indicator's state above"),
                }
            }
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => Optimizer::validate(o),
            AnyOptimizer::Momentum(o) => Optimizer::validate(o),
            AnyOptimizer::Nesterov(o) => Optimizer::validate(o),
            AnyOptimizer::PatchWise(o) => Optimizer::validate(o),
            AnyOptimizer::Adam(o) => Optimizer::validate(o),
            AnyOptimizer::DecayIndicator(o) => Optimizer::validate(o),
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn look_ahead(&self, state: &AnyState) -> Option<Tensor<4>> {
        match (self, &state.0) {
            (AnyOptimizer::Momentum(o), State::Buffer(buffer)) => o.look_ahead(buffer),
            (AnyOptimizer::Nesterov(o), State::Buffer(buffer)) => o.look_ahead(buffer),
            (AnyOptimizer::PatchWise(o), State::Buffer(buffer)) => o.look_ahead(buffer),
            _ => None,
        }
    }
}
