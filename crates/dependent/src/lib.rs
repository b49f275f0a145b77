//! Nothing: this crate exists for its tests (`tests/as_a_dependency.rs`), which use the
//! library only as a crate that depends on it can, through its public API.
