//! Gradient estimation: how the attack loop obtains each input gradient.
//!
//! Most transfer attacks of the paper's table differ only in how they estimate the gradient,
//! so they are parts of one [`GradientEstimator`] that plugs into any attack loop (the
//! ensemble gradient of the reverse step and of the baselines, and each model's gradient in
//! the CWA inner sweep):
//!
//! * [`InputDiversity`] (DI, Xie et al. 2019): random resize-and-pad, or the authors'
//!   random translation, applied to the input inside the differentiated graph;
//! * [`Sampling`]: VMI (Wang & He 2021) neighbourhood sampling, in the original
//!   variance-tuning form or the CWA authors' neighbourhood-mean form, SSA (Long et al.
//!   2022) spectrum simulation, PGN (Ge et al. 2023) gradient-norm penalty, EMI (Wang et al.
//!   2021) points along the previous gradient, and GRA (Zhu et al. 2023) relevance weighting;
//! * [`Copies`]: the mean gradient over transformed copies of the input, SIM (Lin et al.
//!   2020, scaled copies), MaskBlock (Fan et al. 2022, one block masked per copy), BSR (Wang
//!   et al. 2024, blocks shuffled and turned), SIA (Wang et al. 2023, a random operation per
//!   block), ANDA's translations (Fang et al. 2024), DeCoWA (Lin et al. 2024, warps that
//!   resist the attack) and Admix (Wang et al. 2021, other classes' images mixed in);
//! * [`GaussianSmoothing`] (TI, Dong et al. 2019): Gaussian smoothing of the gradient.
//!
//! They compose: `GradientEstimator { diversity: Some(..), smoothing: Some(..), .. }` is
//! DI+TI, and putting it in an MI-CWA's settings gives DI+TI+MI-CWA.

mod blocks;
mod copies;
mod diversity;
mod estimator;
mod evaluator;
mod pixel_map;
mod smoothing;
pub mod spectrum;
mod warp;

pub use copies::Copies;
pub(crate) use copies::Inputs;
pub use diversity::InputDiversity;
pub use estimator::{EstimatorState, GradientEstimator, Sampling};
pub(crate) use evaluator::{gradient_of, Evaluation, Evaluator, InputTransform};
pub use smoothing::GaussianSmoothing;
