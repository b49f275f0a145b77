//! The statistics of the benchmark tables on hand-computed cases: Wilson intervals, McNemar's
//! exact test, mean intervals.

use common_weakness::Error;
use common_weakness_bench::statistics::{mcnemar, mean_interval, wilson_interval};
use proptest::prelude::*;

#[test]
fn wilson_interval_matches_hand_computed_values() {
    // 0 of 10: centre z²/2n / (1 + z²/n), half-width z/(1 + z²/n) · √(z²/4n²), both 0.13877.
    let [low, high] = wilson_interval(0, 10).unwrap();
    approx::assert_abs_diff_eq!(low, 0.0, epsilon = 1e-12);
    approx::assert_abs_diff_eq!(high, 0.27754, epsilon = 1e-5);
    // 81 of 263 (Newcombe 1998, Table I: 0.2553–0.3662).
    let [low, high] = wilson_interval(81, 263).unwrap();
    approx::assert_abs_diff_eq!(low, 0.2553, epsilon = 1e-4);
    approx::assert_abs_diff_eq!(high, 0.3662, epsilon = 1e-4);
    // Symmetric: x of n and n − x of n mirror each other.
    let ([a, b], [c, d]) = (wilson_interval(3, 17).unwrap(), wilson_interval(14, 17).unwrap());
    approx::assert_abs_diff_eq!(a, 1.0 - d, epsilon = 1e-12);
    approx::assert_abs_diff_eq!(b, 1.0 - c, epsilon = 1e-12);
    // None or all of n: the interval ends exactly at 0 or 1, for every n (rounding once put the
    // lower end of 0 of 89 a hair above 0, outside its own proportion).
    for n in 1..=1000 {
        assert_eq!(wilson_interval(0, n).unwrap()[0], 0.0, "0 of {n}");
        assert_eq!(wilson_interval(n, n).unwrap()[1], 1.0, "{n} of {n}");
    }
}

#[test]
fn wilson_interval_names_bad_counts_and_ends_at_one() {
    assert!(matches!(wilson_interval(3, 2), Err(Error::InvalidParameter { name: "successes", .. })));
    assert!(matches!(wilson_interval(0, 0), Err(Error::InvalidParameter { name: "trials", .. })));
    let [low, high] = wilson_interval(20, 20).unwrap();
    assert!((low - 0.8389).abs() < 1e-4 && high == 1.0, "{low} {high}");
}

#[test]
fn mcnemar_matches_the_binomial_tail() {
    let outcomes = |pairs: &[(bool, bool, usize)]| {
        let mut first = Vec::new();
        let mut second = Vec::new();
        for &(a, b, count) in pairs {
            first.extend(std::iter::repeat_n(a, count));
            second.extend(std::iter::repeat_n(b, count));
        }
        (first, second)
    };
    // 0 against 5 discordant: 2 · (1/2)⁵.
    let (a, b) = outcomes(&[(false, true, 5), (true, true, 40), (false, false, 12)]);
    let test = mcnemar(&a, &b).unwrap();
    assert_eq!((test.only_first, test.only_second), (0, 5));
    approx::assert_abs_diff_eq!(test.p_value, 0.0625, epsilon = 1e-12);
    // 3 against 3: the tail is past one half, so p = 1.
    let (a, b) = outcomes(&[(true, false, 3), (false, true, 3)]);
    assert_eq!(mcnemar(&a, &b).unwrap().p_value, 1.0);
    // 60 against 40: 2 · P[Bin(100, ½) ≤ 40] = 0.056888 (the χ² form with continuity
    // correction gives 0.0574).
    let (a, b) = outcomes(&[(true, false, 60), (false, true, 40), (true, true, 900)]);
    approx::assert_abs_diff_eq!(mcnemar(&a, &b).unwrap().p_value, 0.056_888, epsilon = 1e-5);
    // The test is symmetric in its two attacks.
    approx::assert_abs_diff_eq!(mcnemar(&b, &a).unwrap().p_value, 0.056_888, epsilon = 1e-5);
    let e = mcnemar(&a, &b[1..]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}

#[test]
fn mean_interval_matches_hand_computed_values() {
    // Differences 0.1, 0.3, −0.1, 0.5: mean 0.2, s² = 0.0666…, half-width 1.96 · s / 2.
    let e = mean_interval(&[0.1, 0.3, -0.1, 0.5]).unwrap();
    approx::assert_abs_diff_eq!(e.mean, 0.2, epsilon = 1e-12);
    let half = 1.959_964 * (0.2f64 / 3.0).sqrt() / 2.0;
    approx::assert_abs_diff_eq!(e.low, 0.2 - half, epsilon = 1e-6);
    approx::assert_abs_diff_eq!(e.high, 0.2 + half, epsilon = 1e-6);
    assert_eq!(e.count, 4);
    // Constant values: a zero-width interval.
    let e = mean_interval(&[0.5; 7]).unwrap();
    assert_eq!((e.low, e.high), (0.5, 0.5));
    assert!(matches!(mean_interval(&[]), Err(Error::InvalidParameter { .. })));
    assert!(matches!(mean_interval(&[1.0, f64::INFINITY]), Err(Error::InvalidParameter { name: "values", .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The Wilson interval holds the observed proportion, stays in [0, 1], and narrows as the
    /// image count grows at a fixed proportion.
    #[test]
    fn wilson_interval_holds_the_proportion(successes in 0usize..200, extra in 0usize..200) {
        let trials = successes + extra + 1;
        let [low, high] = wilson_interval(successes, trials).unwrap();
        let p = successes as f64 / trials as f64;
        prop_assert!(0.0 <= low && low <= p && p <= high && high <= 1.0);
        let [low4, high4] = wilson_interval(4 * successes, 4 * trials).unwrap();
        prop_assert!(high4 - low4 < high - low);
    }

    /// McNemar's p-value is a probability, 1 without discordant images, and falls as the
    /// split of discordant images grows more uneven.
    #[test]
    fn mcnemar_p_value_falls_with_imbalance(only_first in 0usize..60, only_second in 0usize..60) {
        let first: Vec<bool> = (0..only_first + only_second).map(|i| i < only_first).collect();
        let second: Vec<bool> = first.iter().map(|a| !a).collect();
        let test = mcnemar(&first, &second).unwrap();
        prop_assert!((0.0..=1.0).contains(&test.p_value));
        let mut more_first = first.clone();
        let mut more_second = second.clone();
        more_first.push(true);
        more_second.push(false);
        let more = mcnemar(&more_first, &more_second).unwrap();
        if only_first >= only_second {
            prop_assert!(more.p_value <= test.p_value + 1e-12);
        }
    }
}
