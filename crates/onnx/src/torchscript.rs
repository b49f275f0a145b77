//! The same architectures as TorchScript files, loaded at run time on LibTorch: no code
//! generation, no build step (`scripts/export-torchscript-models.sh` writes them).

use std::path::PathBuf;

use crate::Architecture;

/// The folder of the TorchScript exports and their references: `$COMMON_WEAKNESS_TORCHSCRIPT`
/// at run time, by default `~/.cache/common-weakness/torchscript`.
pub fn torchscript_dir() -> PathBuf {
    std::env::var_os("COMMON_WEAKNESS_TORCHSCRIPT").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/common-weakness/torchscript")
    })
}

impl Architecture {
    /// Where `scripts/export-torchscript-models.sh` writes this model's TorchScript file (its
    /// sidecar is the same path ending in `.json`).
    pub fn torchscript_file(self) -> PathBuf {
        torchscript_dir().join(format!("{}.pt", self.name()))
    }
}

/// `model` exported to TorchScript, as a surrogate on a LibTorch `device`
/// ([`common_weakness::surrogate::load_torchscript`]): inputs `[N, 3, 224, 224]` in `[0, 1]`,
/// normalised inside, outputs ImageNet logits `[N, 1000]`.
#[cfg(feature = "tch")]
pub fn load_torchscript(
    model: Architecture,
    device: &burn::tensor::Device,
) -> crate::Result<Box<dyn common_weakness::surrogate::Surrogate>> {
    Ok(common_weakness::surrogate::load_torchscript(model.torchscript_file(), device)?)
}
