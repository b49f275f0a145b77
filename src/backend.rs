//! The one place that names Burn backends: which ones this build has (by Cargo feature), which
//! one programs use by default, and how a program picks one at run time (`--backend`).
//!
//! | kind | feature | device | notes |
//! |---|---|---|---|
//! | `flex` | `flex` (default) | CPU | Burn's newer embedded CPU backend; the fastest without PyTorch (`docs/performance.md`) |
//! | `ndarray` | `ndarray` (default) | CPU | Burn's classic CPU backend |
//! | `tch` | `tch` | CPU | LibTorch: PyTorch's kernels (`scripts/setup-libtorch.sh`) |
//! | `tch-cuda` | `tch` | GPU 0 | LibTorch on CUDA |
//! | `wgpu` | `wgpu` | default GPU | Vulkan / Metal / DX12; Mesa's lavapipe on a CPU |
//! | `cuda` | `cuda` | GPU 0 | CubeCL's CUDA backend |
//!
//! A program generic over the backend implements [`BackendTask`] once and runs it on the kind
//! the user chose:
//!
//! ```
//! use burn::tensor::backend::AutodiffBackend;
//! use burn::tensor::{ElementConversion, Tensor};
//! use common_weakness::backend::{BackendKind, BackendTask};
//! use common_weakness::surrogate::SurrogateOps;
//!
//! struct Sum;
//! impl BackendTask for Sum {
//!     type Output = f32;
//!     fn run<B: AutodiffBackend + SurrogateOps>(self, device: B::Device) -> f32 {
//!         Tensor::<B, 1>::from_floats([1.0, 2.0], &device).sum().into_scalar().elem::<f32>()
//!     }
//! }
//! assert_eq!(BackendKind::default().run(Sum)?, 3.0);
//! # Ok::<(), common_weakness::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::AutodiffBackend;

use crate::error::{Error, Result};
use crate::surrogate::SurrogateOps;

/// The backend programs use when nobody chooses, as a type: the first of flex, ndarray,
/// LibTorch (CPU), wgpu, CUDA that this build enables (the same order as
/// [`BackendKind::default`]). Examples write `Autodiff<DefaultBackend>`.
#[cfg(feature = "flex")]
pub type DefaultBackend = burn::backend::Flex;
/// The backend programs use when nobody chooses (see the `flex` variant of this alias).
#[cfg(all(not(feature = "flex"), feature = "ndarray"))]
pub type DefaultBackend = burn::backend::NdArray;
/// The backend programs use when nobody chooses (see the `flex` variant of this alias).
#[cfg(all(not(any(feature = "flex", feature = "ndarray")), feature = "tch"))]
pub type DefaultBackend = burn::backend::LibTorch;
/// The backend programs use when nobody chooses (see the `flex` variant of this alias).
#[cfg(all(not(any(feature = "flex", feature = "ndarray", feature = "tch")), feature = "wgpu"))]
pub type DefaultBackend = burn::backend::Wgpu;
/// The backend programs use when nobody chooses (see the `flex` variant of this alias).
#[cfg(all(not(any(feature = "flex", feature = "ndarray", feature = "tch", feature = "wgpu")), feature = "cuda"))]
pub type DefaultBackend = burn::backend::Cuda;

/// A Burn backend this crate can run on (with Burn's autodiff on top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// burn-flex on the CPU.
    Flex,
    /// burn-ndarray on the CPU.
    Ndarray,
    /// LibTorch on the CPU.
    Tch,
    /// LibTorch on CUDA device 0.
    TchCuda,
    /// wgpu on the default adapter.
    Wgpu,
    /// CubeCL CUDA on device 0.
    Cuda,
}

/// A computation generic over the backend, run by [`BackendKind::run`].
pub trait BackendTask {
    /// What the computation returns.
    type Output;
    /// Runs on backend `B` (an autodiff backend) and its `device`.
    fn run<B: AutodiffBackend + SurrogateOps>(self, device: B::Device) -> Self::Output;
}

impl BackendKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [BackendKind; 6] = [
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Tch,
        BackendKind::TchCuda,
        BackendKind::Wgpu,
        BackendKind::Cuda,
    ];

    /// The name used by `--backend` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Tch => "tch",
            BackendKind::TchCuda => "tch-cuda",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// The Cargo feature that builds it.
    pub fn feature(self) -> &'static str {
        match self {
            BackendKind::TchCuda => "tch",
            kind => kind.name(),
        }
    }

    /// Whether this build has the backend (its feature is on).
    pub fn enabled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Tch | BackendKind::TchCuda => cfg!(feature = "tch"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The kinds this build has.
    pub fn enabled_kinds() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|k| k.enabled()).collect()
    }

    /// Runs `task` on this backend, or fails with [`Error::BackendNotEnabled`] when the build
    /// lacks its feature.
    // A build without backend features (a user's own backend) has only the error arm.
    #[cfg_attr(
        not(any(feature = "flex", feature = "ndarray", feature = "tch", feature = "wgpu", feature = "cuda")),
        allow(unused_imports, unused_variables)
    )]
    pub fn run<T: BackendTask>(self, task: T) -> Result<T::Output> {
        use burn::backend::Autodiff;
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(task.run::<Autodiff<burn::backend::Flex>>(Default::default())),
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => Ok(task.run::<Autodiff<burn::backend::NdArray>>(Default::default())),
            #[cfg(feature = "tch")]
            BackendKind::Tch => {
                Ok(task.run::<Autodiff<burn::backend::LibTorch>>(burn::backend::libtorch::LibTorchDevice::Cpu))
            }
            #[cfg(feature = "tch")]
            BackendKind::TchCuda => {
                Ok(task.run::<Autodiff<burn::backend::LibTorch>>(burn::backend::libtorch::LibTorchDevice::Cuda(0)))
            }
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Ok(task.run::<Autodiff<burn::backend::Wgpu>>(Default::default())),
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => Ok(task.run::<Autodiff<burn::backend::Cuda>>(Default::default())),
            #[allow(unreachable_patterns)]
            kind => Err(Error::BackendNotEnabled { backend: kind.name(), feature: kind.feature() }),
        }
    }
}

impl Default for BackendKind {
    /// The fastest CPU backend of this build: flex, else ndarray, else LibTorch, else the
    /// first GPU backend enabled (flex is the crate's default feature; see
    /// `docs/performance.md` for the measurements behind the order).
    fn default() -> Self {
        [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Tch, BackendKind::Wgpu, BackendKind::Cuda]
            .into_iter()
            .find(|k| k.enabled())
            .unwrap_or(BackendKind::Flex)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = Error;

    /// Parses a name of the table above (`flex`, `ndarray`, `tch`, `tch-cuda`, `wgpu`, `cuda`).
    fn from_str(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| Error::UnknownBackend { name: name.to_string() })
    }
}
