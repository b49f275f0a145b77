//! What can go wrong while loading an imported model.

use std::path::PathBuf;

use crate::Architecture;

/// An error of the ONNX-imported models: a model not generated at build time, a weights or
/// reference file that does not load, or anything the attack library reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the attack library (invalid parameter, shape, non-finite values, ...).
    #[error(transparent)]
    Attack(#[from] common_weakness::Error),
    /// The model's ONNX file was not there when this crate was built, so no code exists for it.
    #[error(
        "model `{model}` was not generated: its ONNX file `{expected}` was absent at build time; \
         run scripts/export-onnx-models.sh, then build with --features common-weakness-onnx/import"
    )]
    NotGenerated {
        /// The architecture asked for.
        model: Architecture,
        /// Where the build looked for its ONNX file.
        expected: PathBuf,
    },
    /// The ONNX file was there, but no Burn code was generated from it: burn-onnx 0.21 could
    /// not import it, or the crate was built without its `import` feature.
    #[error("model `{model}` was not generated from its ONNX file: {reason} (docs/models.md)")]
    ImportFailed {
        /// The architecture asked for.
        model: Architecture,
        /// burn-onnx's message, or the missing feature.
        reason: String,
    },
    /// A weights or reference file could not be read or does not fit the model.
    #[error("`{path}`: {problem}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// `Result<T, common_weakness_onnx::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
