//! Greedy non-maximum suppression.

use crate::boxes::{iou, Detection};
use crate::error::{invalid, Result};

/// Keeps, per class, the highest-scoring detections and drops every other detection of the
/// same class whose IoU with a kept one exceeds `iou_threshold`. Returns the kept detections
/// by decreasing score. Fails when the threshold is outside `[0, 1]` or a score is not
/// finite.
///
/// ```
/// use common_weakness_detection::{non_maximum_suppression, BoundingBox, Detection};
///
/// let at = |x: f32, score: f32| Detection { class: 0, bbox: BoundingBox::new(x, 0.0, x + 10.0, 10.0).unwrap(), score };
/// let kept = non_maximum_suppression(vec![at(0.0, 0.9), at(1.0, 0.8), at(50.0, 0.7)], 0.5).unwrap();
/// assert_eq!(kept, vec![at(0.0, 0.9), at(50.0, 0.7)]);
/// ```
pub fn non_maximum_suppression(mut detections: Vec<Detection>, iou_threshold: f32) -> Result<Vec<Detection>> {
    if !(0.0..=1.0).contains(&iou_threshold) {
        return Err(invalid("iou_threshold", iou_threshold, "must be within [0, 1]"));
    }
    if let Some(bad) = detections.iter().find(|d| !d.score.is_finite()) {
        return Err(invalid("score", bad.score, "detection scores must be finite"));
    }
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in detections {
        let suppressed =
            kept.iter().any(|k| k.class == candidate.class && iou(&k.bbox, &candidate.bbox) > iou_threshold);
        if !suppressed {
            kept.push(candidate);
        }
    }
    Ok(kept)
}
