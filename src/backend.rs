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
//! A program asks the user's choice for its device; every tensor created on it runs on that
//! backend, with automatic differentiation:
//!
//! ```
//! use burn::tensor::Tensor;
//! use common_weakness::backend::BackendKind;
//!
//! let device = BackendKind::default().device()?;
//! let sum: f32 = Tensor::<1>::from_floats([1.0, 2.0], &device).sum().into_scalar();
//! assert_eq!(sum, 3.0);
//! # Ok::<(), common_weakness::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{Error, Result};

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

    /// The device of this kind, with automatic differentiation: every tensor created on it
    /// runs on this backend and records what gradients need. Fails with
    /// [`Error::BackendNotEnabled`] when the build lacks the kind's feature.
    // burn-ndarray and burn-tch are deprecated in Burn 0.22; the crate keeps them (the
    // reference of the backend-agreement tests; PyTorch's kernels) while Burn publishes them.
    #[allow(deprecated)]
    pub fn device(self) -> Result<Device> {
        #[allow(unused_variables)] // no backend feature: only the last arm
        let device = |device: Device| -> Result<Device> { Ok(device.autodiff()) };
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => device(Device::flex()),
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => device(Device::ndarray()),
            #[cfg(feature = "tch")]
            BackendKind::Tch => device(Device::libtorch()),
            #[cfg(feature = "tch")]
            BackendKind::TchCuda => device(Device::libtorch_cuda(0)),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => device(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => device(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            kind => Err(Error::BackendNotEnabled { backend: kind.name(), feature: kind.feature() }),
        }
    }
}

impl BackendKind {
    /// The kind a device belongs to (its autodiff wrapper ignored); `None` for a backend this
    /// crate does not name (a remote device, a user's own).
    // LibTorch's device variants: burn-tch is deprecated in Burn 0.22.
    #[allow(deprecated)]
    // A build without backend features (a user's own backend) has only the last arm.
    #[cfg_attr(
        not(any(feature = "flex", feature = "ndarray", feature = "tch", feature = "wgpu", feature = "cuda")),
        allow(unused_imports)
    )]
    pub fn of(device: &Device) -> Option<BackendKind> {
        use burn::backend::DispatchDevice;
        #[allow(unreachable_patterns)]
        match device.clone().inner().as_dispatch() {
            #[cfg(feature = "flex")]
            DispatchDevice::Flex(_) => Some(BackendKind::Flex),
            #[cfg(feature = "ndarray")]
            DispatchDevice::NdArray(_) => Some(BackendKind::Ndarray),
            #[cfg(feature = "tch")]
            DispatchDevice::LibTorch(burn::backend::libtorch::LibTorchDevice::Cpu) => Some(BackendKind::Tch),
            #[cfg(feature = "tch")]
            DispatchDevice::LibTorch(burn::backend::libtorch::LibTorchDevice::Cuda(_)) => Some(BackendKind::TchCuda),
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            DispatchDevice::Cube(cube) => match format!("{cube:?}").contains("Cuda") {
                true => Some(BackendKind::Cuda),
                false => Some(BackendKind::Wgpu),
            },
            _ => None,
        }
    }

    /// The backend's name for run records: the kind's name, or the device as Burn prints it.
    pub fn name_of(device: &Device) -> String {
        BackendKind::of(device).map_or_else(|| format!("{:?}", device.clone().inner()), |kind| kind.name().to_string())
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
