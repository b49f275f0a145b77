//! Checks of settings, shared by every type that takes one: each returns
//! [`Error::InvalidParameter`] naming the parameter, so a custom optimizer or estimator can
//! refuse bad settings the way the built-in ones do.
//!
//! ```
//! use common_weakness::check;
//!
//! assert!(check::positive("learning_rate", 0.01).is_ok());
//! let error = check::positive("learning_rate", f64::NAN).unwrap_err();
//! assert!(error.to_string().contains("`learning_rate`"));
//! ```

use crate::error::{Error, Result};

/// Whether `value` survives the narrowing to `f32` that every setting goes through: finite
/// in f32, and not rounded to zero unless it is zero.
fn fits_f32(value: f64) -> bool {
    let narrowed = value as f32;
    narrowed.is_finite() && (value == 0.0 || narrowed != 0.0)
}

/// Checks that a parameter is finite and strictly positive, in f32 too.
pub fn positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 && fits_f32(value) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            requirement: "must be > 0 and within f32 range (1.4e-45 to 3.4e38)",
        })
    }
}

/// Checks that a parameter is finite and non-negative, in f32 too.
pub fn non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 && fits_f32(value) {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value, requirement: "must be 0 or within f32 range (1.4e-45 to 3.4e38)" })
    }
}

/// Checks that a parameter lies in [0, 1), in f32 too.
pub fn unit_interval(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && (0.0..1.0).contains(&value) && fits_f32(value) && (value as f32) < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value, requirement: "must be in [0, 1), also after rounding to f32" })
    }
}

/// Checks that a parameter is at most `limit` (a NaN is not), `requirement` saying so to the
/// user.
pub fn at_most(name: &'static str, value: f64, limit: f64, requirement: &'static str) -> Result<()> {
    match value <= limit {
        true => Ok(()),
        false => Err(Error::InvalidParameter { name, value, requirement }),
    }
}

/// Checks that a count is at least one.
pub fn at_least_one(name: &'static str, value: usize) -> Result<()> {
    if value >= 1 {
        Ok(())
    } else {
        Err(Error::InvalidParameter { name, value: value as f64, requirement: "must be >= 1" })
    }
}
