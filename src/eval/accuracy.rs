//! Predictions and success rates of (possibly black-box) classifiers.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::objective::Goal;

/// Top-1 predictions of `logits` `[N, K]` (the first of equal maxima).
///
/// Fails with [`Error::Shape`] when there are no classes (`K = 0`) and with
/// [`Error::NonFiniteLogits`] when a logit is NaN: no class can be predicted from it.
pub fn predictions(logits: Tensor<2>) -> Result<Vec<usize>> {
    Ok(top_k_predictions(logits, 1)?.into_iter().map(|row| row[0]).collect())
}

/// The `k` highest-scoring classes of each row of `logits` `[N, K]`, best first (equal
/// scores in class order); all `K` classes when `k > K`.
///
/// Fails as [`predictions`] does, and with [`Error::InvalidParameter`] for `k = 0`.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::eval::top_k_predictions;
///
/// let logits = Tensor::<2>::from_floats([[0.1, 3.0, 2.0, -1.0]], &Default::default());
/// assert_eq!(top_k_predictions(logits, 2).unwrap(), vec![vec![1, 2]]);
/// ```
pub fn top_k_predictions(logits: Tensor<2>, k: usize) -> Result<Vec<Vec<usize>>> {
    crate::check::at_least_one("k", k)?;
    let [images, classes] = logits.dims();
    if classes == 0 {
        return Err(Error::Shape { what: "logits", expected: "[N, K] with K >= 1".into(), actual: vec![images, 0] });
    }
    let values = crate::host::to_vec(logits);
    let nan = values.iter().filter(|v| v.is_nan()).count();
    if nan > 0 {
        return Err(Error::NonFiniteLogits { count: nan });
    }
    Ok(values
        .chunks(classes)
        .map(|row| {
            let mut order: Vec<usize> = (0..classes).collect();
            // Stable: equal scores keep class order, so the first of equal maxima comes first.
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
            order.truncate(k);
            order
        })
        .collect())
}

/// Attack success against one target, with both denominators users ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SuccessRate {
    /// Images attacked.
    pub images: usize,
    /// Images the target classified correctly when clean.
    pub clean_correct: usize,
    /// Successful adversarial images (misclassified if untargeted, classified as the target
    /// if targeted).
    pub successes: usize,
    /// Successes among the images that were correctly classified when clean.
    pub successes_on_clean_correct: usize,
}

impl SuccessRate {
    /// Success over all images, in `[0, 1]` (the paper's denominator).
    pub fn over_all(&self) -> f64 {
        self.successes as f64 / self.images.max(1) as f64
    }

    /// Success over the images the target got right when clean, in `[0, 1]`.
    pub fn over_clean_correct(&self) -> f64 {
        self.successes_on_clean_correct as f64 / self.clean_correct.max(1) as f64
    }
}

/// Success over two sets of images (two shards, two targets): the counts add up.
///
/// ```
/// use common_weakness::eval::SuccessRate;
///
/// let a = SuccessRate { images: 4, clean_correct: 3, successes: 2, successes_on_clean_correct: 1 };
/// let b = SuccessRate { images: 6, clean_correct: 5, successes: 3, successes_on_clean_correct: 3 };
/// assert_eq!((a + b).over_all(), 0.5);
/// assert_eq!([a, b].into_iter().sum::<SuccessRate>(), a + b);
/// ```
impl std::ops::Add for SuccessRate {
    type Output = SuccessRate;

    fn add(self, other: SuccessRate) -> SuccessRate {
        SuccessRate {
            images: self.images + other.images,
            clean_correct: self.clean_correct + other.clean_correct,
            successes: self.successes + other.successes,
            successes_on_clean_correct: self.successes_on_clean_correct + other.successes_on_clean_correct,
        }
    }
}

impl std::iter::Sum for SuccessRate {
    fn sum<I: Iterator<Item = SuccessRate>>(rates: I) -> SuccessRate {
        rates.fold(SuccessRate::default(), |a, r| a + r)
    }
}

/// Scores adversarial predictions against `labels` (true classes when untargeted, targets
/// when targeted), given the clean predictions and the true classes.
pub fn success_rate(
    goal: Goal,
    true_labels: &[usize],
    labels: &[usize],
    clean: &[usize],
    adversarial: &[usize],
) -> Result<SuccessRate> {
    let n = true_labels.len();
    if labels.len() != n {
        return Err(Error::BatchMismatch { images: n, labels: labels.len() });
    }
    for (what, len) in [("clean predictions", clean.len()), ("adversarial predictions", adversarial.len())] {
        if len != n {
            return Err(Error::Shape { what, expected: format!("[{n}] (one per true label)"), actual: vec![len] });
        }
    }
    let mut rate = SuccessRate { images: n, clean_correct: 0, successes: 0, successes_on_clean_correct: 0 };
    for i in 0..n {
        let correct = clean[i] == true_labels[i];
        let success = match goal {
            Goal::Untargeted => adversarial[i] != labels[i],
            Goal::Targeted => adversarial[i] == labels[i],
        };
        rate.clean_correct += correct as usize;
        rate.successes += success as usize;
        rate.successes_on_clean_correct += (correct && success) as usize;
    }
    Ok(rate)
}
