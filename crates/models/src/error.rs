//! What can go wrong while loading models and data: the attack library's errors plus files.

use std::path::PathBuf;

/// An error of the harness: a file (weights, dataset, assets) or anything the attack library
/// reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the attack library (invalid parameter, shape, non-finite values, ...).
    #[error(transparent)]
    Attack(#[from] common_weakness::Error),
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A weights file could not be read, or does not fit the architecture.
    #[error("weights `{path}`: {problem}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong: unreadable file, missing tensor, wrong shape.
        problem: String,
    },
    /// A dataset file is malformed (truncated, wrong format, inconsistent labels).
    #[error("dataset `{path}`: {problem}")]
    Dataset {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Ghost was asked of a model without residual blocks.
    #[error("`{model}` has no residual blocks for Ghost: use the zoo's resnet or EfficientNet-Lite")]
    NotResidual {
        /// The model.
        model: String,
    },
    /// Files the caller asked for are not on this machine.
    #[error("missing assets: `{path}` not found; {hint}")]
    MissingAssets {
        /// The file or folder that was looked for.
        path: PathBuf,
        /// How to get it.
        hint: &'static str,
    },
}

/// `Result<T, common_weakness_models::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
