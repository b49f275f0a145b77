//! # common-weakness
//!
//! Transferable adversarial examples from an ensemble of surrogate models, built on
//! [Burn](https://burn.dev) and generic over its backends (burn-flex and burn-ndarray on the CPU
//! by default; LibTorch, wgpu and CUDA behind features).
//!
//! The centre is the **Common Weakness Attack** (CWA) of Chen et al., *Rethinking Model
//! Ensemble in Transfer-based Adversarial Attacks* (ICLR 2024): a meta-optimizer made of a
//! reverse (sharpness) step, per-model L2-normalised inner steps and an outer step on the
//! pseudo-gradient, each an optimizer you choose. The same engine runs FGSM, BIM, PGD,
//! MI-FGSM, MI-SAM, MI-CSE, MI-CWA and Adam-CWA.
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness::prelude::*;
//! use common_weakness::surrogate::from_fn;
//!
//! let device = Default::default();
//! let model = |name: &'static str, sign: f32| {
//!     from_fn(name, move |x: Tensor<4>| {
//!         let s = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]).mul_scalar(sign);
//!         Tensor::cat(vec![s.clone(), s.neg()], 1)
//!     })
//! };
//! let ensemble = Ensemble::new(vec![Box::new(model("a", 4.0)), Box::new(model("b", 2.0))])?;
//! let images = Tensor::<4>::full([2, 3, 4, 4], 0.5, &device);
//! let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0)).with_outer(common_weakness::optim::Adam::new(0.01));
//! let outcome = attack.run(&ensemble, images, &Objective::untargeted(vec![0, 0]))?;
//! assert!(outcome.final_loss[0] < outcome.initial_loss[0]);
//! # Ok::<(), common_weakness::Error>(())
//! ```
//!
//! Modules follow the flow of data: [`surrogate`] models → [`objective`] → gradients →
//! [`optim`] → [`threat`] projection → [`attack`] loop → [`observe`] records → [`eval`].
#![warn(missing_docs)]

pub mod attack;
pub mod backend;
pub mod check;
pub mod ensemble;
mod error;
pub mod eval;
pub mod gradient;
mod host;
mod json_float;
pub mod landscape;
pub mod norm;
pub mod objective;
pub mod observe;
pub mod optim;
pub mod planar;
pub mod rng;
pub mod schedule;
pub mod snapshot;
pub mod surrogate;
pub mod threat;
pub mod universal;

// Every item has one path, its module's; the error types live at the root (their module is
// private). The prelude gathers what most programs need.
pub use error::{Error, Result, Stage};

/// The names most programs need (the README's quick start uses only these). The optimizers
/// stay in [`optim`]: `Adam`, `Sgd`, `Momentum` and `Optimizer` are also Burn's names.
pub mod prelude {
    pub use crate::attack::{
        bim, di_mi_fgsm, fgsm, mi_fgsm, ni_fgsm, pgd, pi_fgsm, ssa, ti_mi_fgsm, vmi_fgsm, Attack, AttackOutcome, Cwa,
        CwaConfig, Flavor, VisitOrder,
    };
    pub use crate::ensemble::{Combination, Ensemble, GradientMode};
    pub use crate::error::{Error, Result};
    pub use crate::gradient::{GaussianSmoothing, GradientEstimator, InputDiversity, Sampling};
    pub use crate::objective::{Goal, LossKind, Objective};
    pub use crate::observe::{Observer, Progress, Silent};
    pub use crate::optim::{InnerOptimizer, OuterOptimizer, ReverseOptimizer};
    pub use crate::surrogate::{from_fn, from_module, Surrogate};
    pub use crate::threat::{Norm, ThreatModel};
}

/// The README's code blocks, compiled as doc tests so that the quick start stays correct.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
