//! VOC-style average precision.

use std::collections::BTreeSet;

use crate::boxes::{iou, Detection, GroundTruth};
use crate::error::{invalid, Result};

/// The precision-recall curve of one class over a set of images, and its average precision.
#[derive(Clone, Debug, PartialEq)]
pub struct PrecisionRecall {
    /// Precision after each detection, by decreasing score.
    pub precision: Vec<f64>,
    /// Recall after each detection.
    pub recall: Vec<f64>,
    /// The area under the interpolated curve (VOC 2010 onward: every recall level, precision
    /// made non-increasing from the right), in `[0, 1]`.
    pub average_precision: f64,
    /// Objects of the class.
    pub ground_truths: usize,
    /// Detections matched to a new object.
    pub true_positives: usize,
    /// Detections matched to no object, or to one already matched (duplicates).
    pub false_positives: usize,
}

fn check(ground_truth: &[Vec<GroundTruth>], detections: &[Vec<Detection>], iou_threshold: f32) -> Result<()> {
    if ground_truth.len() != detections.len() {
        return Err(invalid("detections", detections.len(), "one list of detections per image of the ground truth"));
    }
    if !(iou_threshold > 0.0 && iou_threshold <= 1.0) {
        return Err(invalid("iou_threshold", iou_threshold, "must be within (0, 1]"));
    }
    if let Some(bad) = detections.iter().flatten().find(|d| !d.score.is_finite()) {
        return Err(invalid("score", bad.score, "detection scores must be finite"));
    }
    Ok(())
}

/// Average precision of `class` over images (image `i`'s objects `ground_truth[i]`, its
/// detections `detections[i]`): detections of the class from every image by decreasing score,
/// each a true positive when its best-overlapping object of the class in the same image has
/// IoU ≥ `iou_threshold` and was not matched before, else a false positive. `None` when no
/// image has an object of the class (its AP is undefined).
///
/// ```
/// use common_weakness_detection::{average_precision, BoundingBox, Detection, GroundTruth};
///
/// let bbox = BoundingBox::new(10.0, 10.0, 50.0, 50.0).unwrap();
/// let truth = vec![vec![GroundTruth { class: 3, bbox }]];
/// let perfect = vec![vec![Detection { class: 3, bbox, score: 0.9 }]];
/// let curve = average_precision(&truth, &perfect, 3, 0.5).unwrap().unwrap();
/// assert_eq!(curve.average_precision, 1.0);
/// ```
pub fn average_precision(
    ground_truth: &[Vec<GroundTruth>],
    detections: &[Vec<Detection>],
    class: usize,
    iou_threshold: f32,
) -> Result<Option<PrecisionRecall>> {
    check(ground_truth, detections, iou_threshold)?;
    let objects: Vec<Vec<&GroundTruth>> =
        ground_truth.iter().map(|image| image.iter().filter(|g| g.class == class).collect()).collect();
    let total: usize = objects.iter().map(Vec::len).sum();
    if total == 0 {
        return Ok(None);
    }
    let mut ranked: Vec<(usize, &Detection)> = detections
        .iter()
        .enumerate()
        .flat_map(|(image, list)| list.iter().filter(|d| d.class == class).map(move |d| (image, d)))
        .collect();
    // Stable: ties keep image order, so the curve is deterministic.
    ranked.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    let mut matched: Vec<Vec<bool>> = objects.iter().map(|o| vec![false; o.len()]).collect();
    let (mut true_positives, mut false_positives) = (0usize, 0usize);
    let (mut precision, mut recall) = (Vec::with_capacity(ranked.len()), Vec::with_capacity(ranked.len()));
    for (image, detection) in ranked {
        let best = objects[image]
            .iter()
            .enumerate()
            .map(|(k, g)| (k, iou(&g.bbox, &detection.bbox)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((k, overlap)) if overlap >= iou_threshold && !matched[image][k] => {
                matched[image][k] = true;
                true_positives += 1;
            }
            _ => false_positives += 1,
        }
        precision.push(true_positives as f64 / (true_positives + false_positives) as f64);
        recall.push(true_positives as f64 / total as f64);
    }
    // All-point interpolation: precision at recall r is the best precision at any recall ≥ r.
    let mut envelope = precision.clone();
    for i in (0..envelope.len().saturating_sub(1)).rev() {
        envelope[i] = envelope[i].max(envelope[i + 1]);
    }
    let mut average_precision = 0.0;
    let mut previous_recall = 0.0;
    for (r, p) in recall.iter().zip(&envelope) {
        average_precision += (r - previous_recall) * p;
        previous_recall = *r;
    }
    Ok(Some(PrecisionRecall {
        precision,
        recall,
        average_precision,
        ground_truths: total,
        true_positives,
        false_positives,
    }))
}

/// The mean of [`average_precision`] over the classes that have at least one object in
/// `ground_truth` (VOC's mAP); fails when no image has any object.
///
/// ```
/// use common_weakness_detection::{mean_average_precision, BoundingBox, GroundTruth};
///
/// let bbox = BoundingBox::new(0.0, 0.0, 8.0, 8.0).unwrap();
/// let truth = vec![vec![GroundTruth { class: 0, bbox }, GroundTruth { class: 1, bbox }]];
/// // Nothing detected: AP 0 for both classes.
/// assert_eq!(mean_average_precision(&truth, &[vec![]], 0.5).unwrap(), 0.0);
/// ```
pub fn mean_average_precision(
    ground_truth: &[Vec<GroundTruth>],
    detections: &[Vec<Detection>],
    iou_threshold: f32,
) -> Result<f64> {
    check(ground_truth, detections, iou_threshold)?;
    let classes: BTreeSet<usize> = ground_truth.iter().flatten().map(|g| g.class).collect();
    if classes.is_empty() {
        return Err(invalid("ground_truth", "no object", "mAP needs at least one object"));
    }
    let mut sum = 0.0;
    for &class in &classes {
        let curve = average_precision(ground_truth, detections, class, iou_threshold)?;
        sum += curve.map_or(0.0, |c| c.average_precision);
    }
    Ok(sum / classes.len() as f64)
}
