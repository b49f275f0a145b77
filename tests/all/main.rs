//! The whole integration suite in one binary (each test binary re-monomorphises Burn's
//! kernels, which dominates build time; see docs/performance.md).

mod analytic;
mod attacks;
mod backend_agreement;
mod batch;
mod block_copies;
mod common;
mod drawn;
mod early_stop;
mod encoders;
mod errors;
mod estimators;
mod executor;
mod gradient_mode;
mod hostile;
mod hostile_checkpoints;
mod hostile_properties;
mod landscape;
mod observers;
mod properties;
mod roles;
mod serde_config;
mod sharding;
mod smer;
#[cfg(feature = "tch")]
mod torchscript;
mod universal;
mod user_attack;
mod weighting;
