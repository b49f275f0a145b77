//! What can go wrong while making scenes or scoring detections.

/// An error of the detection harness: an invalid setting or input, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting or input is outside what it may be.
    #[error("invalid `{name}` = {value}: {requirement}")]
    Invalid {
        /// The setting or input at fault.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What it must be.
        requirement: &'static str,
    },
}

/// `Result<T, common_weakness_detection::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, value: impl std::fmt::Display, requirement: &'static str) -> Error {
    Error::Invalid { name, value: value.to_string(), requirement }
}
