//! Paired comparison of two attacks on the same images: McNemar's exact test.

use serde::{Deserialize, Serialize};

use common_weakness::{Error, Result};

/// McNemar's test of two attacks on the same images: only the images where exactly one of
/// them succeeded carry information.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Images where the first attack succeeded and the second failed.
    pub only_first: usize,
    /// Images where the second attack succeeded and the first failed.
    pub only_second: usize,
    /// Two-sided p-value of the exact test: the probability, if both attacks succeeded
    /// equally often, of a split of the discordant images at least this uneven (1 when there
    /// are none).
    pub p_value: f64,
}

/// McNemar's exact test on per-image outcomes (`true` = the attack succeeded on that
/// image) of two attacks on the same images in the same order: under the null hypothesis each
/// discordant image is a fair coin, so the p-value is the two-sided binomial tail
/// `min(1, 2 · P[Bin(b + c, ½) ≤ min(b, c)])`. Exact, so it holds for small counts where the
/// χ² form does not.
///
/// Fails with [`Error::Shape`] when the two lists differ in length.
///
/// ```
/// use common_weakness_bench::statistics::mcnemar;
///
/// // 7 images only the first attack broke, 1 only the second: p = 2 · 9/256.
/// let mut first = vec![true; 7];
/// first.extend([false, true, false]);
/// let mut second = vec![false; 7];
/// second.extend([true, true, false]);
/// let test = mcnemar(&first, &second).unwrap();
/// assert_eq!((test.only_first, test.only_second), (7, 1));
/// assert!((test.p_value - 18.0 / 256.0).abs() < 1e-12);
/// assert_eq!(mcnemar(&first, &first).unwrap().p_value, 1.0);
/// ```
pub fn mcnemar(first: &[bool], second: &[bool]) -> Result<McNemar> {
    if first.len() != second.len() {
        return Err(Error::Shape {
            what: "second attack's per-image outcomes",
            expected: format!("[{}] (the first attack's)", first.len()),
            actual: vec![second.len()],
        });
    }
    let only_first = first.iter().zip(second).filter(|(a, b)| **a && !**b).count();
    let only_second = first.iter().zip(second).filter(|(a, b)| !**a && **b).count();
    let p_value = (2.0 * binomial_half_tail(only_first + only_second, only_first.min(only_second))).min(1.0);
    Ok(McNemar { only_first, only_second, p_value })
}

/// `P[Bin(n, ½) ≤ k]`, summed in log space so that it stays exact for thousands of images.
fn binomial_half_tail(n: usize, k: usize) -> f64 {
    let ln_factorial: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n).scan(0.0, |sum, i| {
            *sum += (i as f64).ln();
            Some(*sum)
        }))
        .collect();
    let ln_half_power = n as f64 * 0.5f64.ln();
    (0..=k).map(|i| (ln_factorial[n] - ln_factorial[i] - ln_factorial[n - i] + ln_half_power).exp()).sum()
}
