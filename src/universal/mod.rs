//! Universal perturbations and adversarial patches: one variable shared by a whole dataset,
//! optimised by the same engine as the per-image attacks.
//!
//! The Common Weakness Attack is a meta-optimizer over any variable. A per-image attack
//! optimises the images themselves, each inside its threat model; a universal attack
//! optimises one [`UniversalVariable`] — a perturbation `δ` added to every image, or a
//! [`Patch`] pasted into every image with random transformations ([`Eot`]) — over a stream of
//! mini-batches ([`Batch`]). Each mini-batch is one iteration of the attack's engine: the
//! reverse step, each model's normalised inner step and the outer step, all on the shared
//! variable, through the images it makes. Every attack of the engine works on both kinds
//! (MI-CWA, Adam-CWA, MI-CSE, MI-SAM, MI-FGSM, SVRE, RAP, any optimizers, DI/TI/VMI/SSA).
//!
//! | | per-image attack | universal attack |
//! |---|---|---|
//! | variable | `x`, `[N, C, H, W]` | `δ` `[1, C, H, W]` or patch `[1, C, h, w]` |
//! | images the models see | `x` | `clamp(x_n + δ)`, or `x_n` with the patch pasted |
//! | admissible set | `‖x − x_nat‖ ≤ ε`, `[0, 1]` | `‖δ‖ ≤ ε`, or patch in `[0, 1]` |
//! | one iteration | on the batch | on one mini-batch, EOT drawn once |
//! | loop | [`Executor::per_image`], [`Attack::run`](crate::attack::Attack::run) | [`Executor::universal`], [`Universal::train`] (epochs, [`Schedule`]) |
//!
//! [`Executor::per_image`]: crate::attack::Executor::per_image
//! [`Executor::universal`]: crate::attack::Executor::universal

mod batch;
mod patch;
mod train;
mod variable;

pub use batch::{Batch, Region};
pub use patch::{total_variation, Eot, Patch, Placement};
pub use train::{Schedule, Universal, UniversalOutcome};
pub use variable::UniversalVariable;
