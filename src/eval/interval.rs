//! Confidence intervals for success rates.

use crate::error::{Error, Result};

/// The two-sided 95% Wilson score interval `[low, high]` of a proportion of `successes` out
/// of `trials` (Wilson, 1927): unlike the normal approximation it stays inside `[0, 1]` and
/// is not empty at 0 or `trials` successes, which small image sets often give.
///
/// Fails with [`Error::InvalidParameter`] when `trials` is 0 or `successes > trials`.
///
/// ```
/// use common_weakness::eval::wilson_interval;
///
/// let [low, high] = wilson_interval(10, 20).unwrap();
/// assert!((low - 0.2993).abs() < 1e-4 && (high - 0.7007).abs() < 1e-4);
/// assert!(wilson_interval(0, 20).unwrap()[0] < 1e-12);
/// assert!(wilson_interval(21, 20).is_err() && wilson_interval(0, 0).is_err());
/// ```
pub fn wilson_interval(successes: usize, trials: usize) -> Result<[f64; 2]> {
    crate::check::at_least_one("trials", trials)?;
    if successes > trials {
        return Err(Error::InvalidParameter {
            name: "successes",
            value: successes as f64,
            requirement: "must be at most the number of trials",
        });
    }
    const Z: f64 = 1.959_963_984_540_054; // the 97.5% quantile of the standard normal
    let (n, p) = (trials as f64, successes as f64 / trials as f64);
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Ok([(centre - half).max(0.0), (centre + half).min(1.0)])
}
