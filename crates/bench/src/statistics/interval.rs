//! Confidence intervals: for success rates and for means of per-image measurements.

use serde::{Deserialize, Serialize};

use common_weakness::{Error, Result};

/// The 97.5% quantile of the standard normal distribution.
const Z: f64 = 1.959_963_984_540_054;

/// The two-sided 95% Wilson score interval `[low, high]` of a proportion of `successes` out
/// of `trials` (Wilson, 1927): unlike the normal approximation it stays inside `[0, 1]` and
/// is not empty at 0 or `trials` successes, which small image sets often give.
///
/// Fails with [`Error::InvalidParameter`] when `trials` is 0 or `successes > trials`.
///
/// ```
/// use common_weakness_bench::statistics::wilson_interval;
///
/// let [low, high] = wilson_interval(10, 20).unwrap();
/// assert!((low - 0.2993).abs() < 1e-4 && (high - 0.7007).abs() < 1e-4);
/// assert!(wilson_interval(0, 20).unwrap()[0] < 1e-12);
/// assert!(wilson_interval(21, 20).is_err() && wilson_interval(0, 0).is_err());
/// ```
pub fn wilson_interval(successes: usize, trials: usize) -> Result<[f64; 2]> {
    common_weakness::check::at_least_one("trials", trials)?;
    if successes > trials {
        return Err(Error::InvalidParameter {
            name: "successes",
            value: successes as f64,
            requirement: "must be at most the number of trials",
        });
    }
    let (n, p) = (trials as f64, successes as f64 / trials as f64);
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // The interval always holds the observed proportion; the clamps only undo rounding (at
    // 0 of 89 trials, `centre - half` comes out a hair above 0).
    Ok([(centre - half).clamp(0.0, p), (centre + half).clamp(p, 1.0)])
}

/// A mean with its two-sided 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanInterval {
    /// The sample mean.
    pub mean: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// How many values.
    pub count: usize,
}

/// The mean of per-image `values` with its 95% confidence interval,
/// `mean ± 1.96 · s / √n` (`s` the sample standard deviation): the normal approximation,
/// sound for the hundreds of images a benchmark measures, too narrow below about 30. For a
/// paired comparison of two methods on the same images pass the per-image differences.
///
/// Fails with [`Error::InvalidParameter`] with fewer than two values or a value that is not
/// finite.
///
/// ```
/// use common_weakness_bench::statistics::mean_interval;
///
/// let estimate = mean_interval(&[1.0, 2.0, 3.0, 4.0]).unwrap();
/// assert_eq!(estimate.mean, 2.5);
/// // s = √(5/3), half-width 1.96 · s / 2.
/// assert!((estimate.high - 2.5 - 1.959_964 * (5.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-6);
/// assert!(mean_interval(&[1.0]).is_err() && mean_interval(&[1.0, f64::NAN]).is_err());
/// ```
pub fn mean_interval(values: &[f64]) -> Result<MeanInterval> {
    common_weakness::check::at_least_one("values (at least two)", values.len().saturating_sub(1))?;
    if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(Error::InvalidParameter { name: "values", value: bad, requirement: "must be finite" });
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = Z * (variance / n).sqrt();
    Ok(MeanInterval { mean, low: mean - half, high: mean + half, count: values.len() })
}
