//! Greedy non-maximum suppression.

use common_weakness_detection::{iou, non_maximum_suppression, BoundingBox, Detection};
use proptest::prelude::*;

fn detection(class: usize, x: f32, score: f32) -> Detection {
    Detection { class, bbox: BoundingBox::new(x, 0.0, x + 10.0, 10.0).unwrap(), score }
}

#[test]
fn overlapping_boxes_of_one_class_keep_the_best_and_other_classes_survive() {
    let input = vec![detection(0, 1.0, 0.6), detection(0, 0.0, 0.9), detection(1, 0.0, 0.5), detection(0, 30.0, 0.4)];
    let kept = non_maximum_suppression(input, 0.5).unwrap();
    assert_eq!(kept, vec![detection(0, 0.0, 0.9), detection(1, 0.0, 0.5), detection(0, 30.0, 0.4)]);
}

#[test]
fn the_threshold_decides_and_is_checked() {
    // IoU of boxes shifted by 5 of 10: 50 / 150 = 1/3.
    let pair = || vec![detection(0, 0.0, 0.9), detection(0, 5.0, 0.8)];
    assert_eq!(non_maximum_suppression(pair(), 0.3).unwrap().len(), 1);
    assert_eq!(non_maximum_suppression(pair(), 0.4).unwrap().len(), 2);
    assert!(non_maximum_suppression(pair(), -0.1).unwrap_err().to_string().contains("iou_threshold"));
    assert!(non_maximum_suppression(vec![detection(0, 0.0, f32::NAN)], 0.5).is_err());
}

proptest! {
    /// Whatever the input: kept detections are sorted by score, come from the input, and no two
    /// of one class overlap beyond the threshold.
    #[test]
    fn kept_detections_are_sorted_and_never_overlap_beyond_the_threshold(
        raw in prop::collection::vec((0usize..3, 0.0f32..100.0, 0.0f32..1.0), 0..40),
        threshold in 0.0f32..1.0,
    ) {
        let input: Vec<Detection> = raw.iter().map(|&(c, x, s)| detection(c, x, s)).collect();
        let kept = non_maximum_suppression(input.clone(), threshold).unwrap();
        prop_assert!(kept.windows(2).all(|w| w[0].score >= w[1].score));
        prop_assert!(kept.iter().all(|k| input.contains(k)));
        for (i, a) in kept.iter().enumerate() {
            for b in &kept[i + 1..] {
                prop_assert!(a.class != b.class || iou(&a.bbox, &b.bbox) <= threshold);
            }
        }
    }
}
