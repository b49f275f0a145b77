//! What can go wrong on the command line, each error naming the argument or file at fault.

use std::path::PathBuf;

/// An error of the `common-weakness` program.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A command-line argument that does not fit (the flag's name without dashes).
    #[error("--{argument}: {problem}")]
    Argument {
        /// The flag, e.g. `models`.
        argument: &'static str,
        /// What is wrong, and what would do.
        problem: String,
    },
    /// A file that cannot be read or written.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// An error of the attack library.
    #[error(transparent)]
    Attack(#[from] common_weakness::Error),
    /// An error of the image files or the zoo.
    #[error(transparent)]
    Bench(#[from] common_weakness_bench::Error),
    /// An error of the zoo or EfficientNet-Lite.
    #[error(transparent)]
    Models(#[from] common_weakness_models::Error),
    /// An error of the ONNX-imported models.
    #[cfg(feature = "onnx")]
    #[error(transparent)]
    Onnx(#[from] common_weakness_onnx::Error),
}

/// `Result<T, CliError>`.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// An [`CliError::Argument`].
pub fn argument(argument: &'static str, problem: impl Into<String>) -> CliError {
    CliError::Argument { argument, problem: problem.into() }
}

/// A [`CliError::File`] from any error.
pub fn file(path: impl Into<PathBuf>, problem: impl std::fmt::Display) -> CliError {
    CliError::File { path: path.into(), problem: problem.to_string() }
}
