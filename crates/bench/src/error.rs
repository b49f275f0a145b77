//! What can go wrong in the benchmark harness: the attack library's and the models crate's
//! errors plus image files.

use std::path::PathBuf;

/// An error of the benchmark harness.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the attack library (invalid parameter, shape, non-finite values, ...).
    #[error(transparent)]
    Attack(#[from] common_weakness::Error),
    /// An error loading models or data.
    #[error(transparent)]
    Models(#[from] common_weakness_models::Error),
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A result file could not be written as JSON.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A run's result file could not be read or parsed.
    #[error("results file `{path}`: {problem}")]
    ResultsFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The result files of a sharded run could not be merged.
    #[error(transparent)]
    Merge(#[from] crate::shard::MergeError),
    /// An image file could not be read, decoded or written.
    #[error("image `{path}`: {source}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What the `image` crate reported.
        source: image::ImageError,
    },
}

/// `Result<T, common_weakness_bench::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
