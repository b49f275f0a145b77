//! Optimizers over image tensors, with explicit state.
//!
//! An optimizer turns the gradient of the objective (which attacks **minimise**) into an
//! additive **descent** update: the attack applies `x ← project(x + update)`. State (momentum
//! buffers, Adam moments, step counts) lives in a separate value that the attack owns, so one
//! optimizer configuration can serve many runs and many roles.
//!
//! The Common Weakness Attack uses optimizers in three roles: the *reverse* step
//! ([`ReverseOptimizer`], fed the negated ensemble gradient, so it ascends), the per-model
//! *inner* steps ([`InnerOptimizer`], fed each model's L2-normalised gradient) and the
//! *outer* step on the pseudo-gradient ([`OuterOptimizer`]). Any optimizer plays any role;
//! each role's trait states what it receives, in a type only the loop can build (`roles`).
//!
//! Writing your own takes a struct and one impl, and it plugs into any role. Every tensor an
//! optimizer sees is a plain value on the run's device, detached from any autodiff graph
//! (the gradient was already taken), so an optimizer never deals with autodiff:
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness::optim::Optimizer;
//! use common_weakness::prelude::*;
//!
//! /// Steps along the raw gradient, clipped element-wise to ±`limit`.
//! struct ClippedSgd { step_size: f32, limit: f32 }
//!
//! impl Optimizer for ClippedSgd {
//!     type State = ();
//!     fn init(&self, _like: &Tensor<4>) {}
//!     fn step(&self, gradient: Tensor<4>, _state: &mut ()) -> Tensor<4> {
//!         gradient.clamp(-self.limit, self.limit).mul_scalar(-self.step_size)
//!     }
//! }
//!
//! let model = from_fn("brightness", |x: Tensor<4>| {
//!     let mean = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
//!     Tensor::cat(vec![mean.clone(), mean.neg()], 1)
//! });
//! let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
//! let attack = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_outer(ClippedSgd { step_size: 1.0, limit: 0.02 });
//! let images = Tensor::<4>::full([1, 1, 2, 2], 0.5, &Default::default());
//! let outcome = attack.run(&ensemble, images, &Objective::untargeted(vec![0])).unwrap();
//! assert!(outcome.final_loss[0] < outcome.initial_loss[0]);
//! // A custom optimizer records only its type name unless it overrides `Optimizer::config`.
//! assert!(outcome.info.config["cwa"]["outer"]["custom"].as_str().unwrap().ends_with("ClippedSgd"));
//! ```

mod adam;
mod any;
mod decay_indicator;
mod momentum;
mod nesterov;
mod patch_wise;
mod roles;
mod sgd;

pub use adam::{Adam, AdamState};
pub use any::{AnyOptimizer, AnyState};
pub use decay_indicator::{DecayIndicator, DecayIndicatorState};
pub use momentum::Momentum;
pub use nesterov::Nesterov;
pub use patch_wise::PatchWise;
pub use roles::{Ascent, InnerOptimizer, ModelGradient, OuterOptimizer, PseudoGradient, ReverseOptimizer};
pub use sgd::Sgd;

use burn::tensor::Tensor;

use crate::error::Result;

/// A first-order optimizer over `[N, C, H, W]` tensors.
pub trait Optimizer: Send + Sync {
    /// Everything the optimizer remembers between steps; a
    /// [`Snapshot`](crate::snapshot::Snapshot) (tensors, options, vectors and tuples of them
    /// already are, a struct of them with [`snapshot_fields!`](crate::snapshot_fields)) so
    /// that checkpoints save and restore it exactly.
    type State: crate::snapshot::Snapshot;

    /// Fresh state for tensors shaped like `like`.
    fn init(&self, like: &Tensor<4>) -> Self::State;

    /// The additive descent update for `gradient`; advances `state`.
    fn step(&self, gradient: Tensor<4>, state: &mut Self::State) -> Tensor<4>;

    /// Checks the hyper-parameters; attacks call this before running.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// The settings recorded with every run ([`RunInfo::config`]). The crate's optimizers
    /// return themselves as an [`AnyOptimizer`] (`{"momentum": {...}}`), so a recorded run
    /// reads back as an [`AttackConfig`] and runs again. The default,
    /// `{"custom": "<type name>"}`, lets an optimizer without `Serialize` be plugged into any
    /// attack; reading such a record back fails, naming the unknown variant `custom`.
    ///
    /// [`RunInfo::config`]: crate::observe::RunInfo::config
    /// [`AttackConfig`]: crate::attack::AttackConfig
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "custom": std::any::type_name::<Self>() })
    }

    /// Where to take the next gradient, as an offset from the current point: Nesterov's
    /// look-ahead (NI-FGSM evaluates the gradient at `x + offset`). `None`, the default,
    /// means at the current point.
    fn look_ahead(&self, _state: &Self::State) -> Option<Tensor<4>> {
        None
    }
}
