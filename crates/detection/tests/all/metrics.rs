//! VOC average precision on hand-made cases.

use approx::assert_relative_eq;
use common_weakness_detection::{average_precision, iou, mean_average_precision, BoundingBox, Detection, GroundTruth};

fn bbox(x: f32, y: f32, side: f32) -> BoundingBox {
    BoundingBox::new(x, y, x + side, y + side).unwrap()
}

fn truth(class: usize, bbox: BoundingBox) -> GroundTruth {
    GroundTruth { class, bbox }
}

fn detection(class: usize, bbox: BoundingBox, score: f32) -> Detection {
    Detection { class, bbox, score }
}

#[test]
fn perfect_detections_give_ap_one() {
    let objects = vec![
        vec![truth(0, bbox(0.0, 0.0, 20.0)), truth(0, bbox(50.0, 50.0, 20.0))],
        vec![truth(0, bbox(10.0, 10.0, 30.0))],
    ];
    let found: Vec<Vec<Detection>> =
        objects.iter().map(|image| image.iter().map(|o| detection(o.class, o.bbox, 0.9)).collect()).collect();
    let curve = average_precision(&objects, &found, 0, 0.5).unwrap().unwrap();
    assert_eq!((curve.average_precision, curve.true_positives, curve.false_positives), (1.0, 3, 0));
    assert_eq!(mean_average_precision(&objects, &found, 0.5).unwrap(), 1.0);
}

#[test]
fn boxes_shifted_below_the_iou_threshold_give_ap_zero() {
    let object = bbox(0.0, 0.0, 20.0);
    // Shifted by 8 of 20 pixels: IoU 12·20 / (2·400 − 240) = 0.43 < 0.5.
    let shifted = bbox(8.0, 0.0, 20.0);
    assert!(iou(&object, &shifted) < 0.5);
    let curve =
        average_precision(&[vec![truth(0, object)]], &[vec![detection(0, shifted, 0.9)]], 0, 0.5).unwrap().unwrap();
    assert_eq!((curve.average_precision, curve.true_positives, curve.false_positives), (0.0, 0, 1));
    // Shifted by 2: IoU 18·20 / (800 − 360) = 0.82, a hit.
    let close = average_precision(&[vec![truth(0, object)]], &[vec![detection(0, bbox(2.0, 0.0, 20.0), 0.9)]], 0, 0.5);
    assert_eq!(close.unwrap().unwrap().average_precision, 1.0);
}

#[test]
fn duplicates_count_as_false_positives() {
    let object = bbox(0.0, 0.0, 20.0);
    // Two hits on one object: the higher-scored is the true positive, the other a false positive.
    let found = vec![vec![detection(0, object, 0.9), detection(0, bbox(1.0, 0.0, 20.0), 0.8)]];
    let curve = average_precision(&[vec![truth(0, object)]], &found, 0, 0.5).unwrap().unwrap();
    assert_eq!((curve.true_positives, curve.false_positives), (1, 1));
    assert_eq!(curve.precision, vec![1.0, 0.5]);
    // Recall reached 1 at precision 1 first: the duplicate after it does not lower AP.
    assert_eq!(curve.average_precision, 1.0);
    // Ranked first, the duplicate's false positive comes before the hit: AP 1 · 0.5.
    let found = vec![vec![detection(0, object, 0.7), detection(0, bbox(30.0, 30.0, 20.0), 0.8)]];
    let curve = average_precision(&[vec![truth(0, object)]], &found, 0, 0.5).unwrap().unwrap();
    assert_eq!(curve.average_precision, 0.5);
}

#[test]
fn ap_interpolates_precision_over_every_recall_level() {
    // Two objects; ranked: hit, miss, hit → precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1.
    // Interpolated: 1 up to recall 1/2, then 2/3: AP = 0.5·1 + 0.5·2/3.
    let objects = vec![vec![truth(0, bbox(0.0, 0.0, 20.0)), truth(0, bbox(60.0, 60.0, 20.0))]];
    let found = vec![vec![
        detection(0, bbox(0.0, 0.0, 20.0), 0.9),
        detection(0, bbox(100.0, 0.0, 20.0), 0.8),
        detection(0, bbox(60.0, 60.0, 20.0), 0.7),
    ]];
    let curve = average_precision(&objects, &found, 0, 0.5).unwrap().unwrap();
    assert_relative_eq!(curve.average_precision, 0.5 + 0.5 * 2.0 / 3.0, epsilon = 1e-12);
    assert_eq!(curve.recall, vec![0.5, 0.5, 1.0]);
}

#[test]
fn a_detection_of_the_wrong_class_or_image_matches_nothing() {
    let object = bbox(0.0, 0.0, 20.0);
    let objects = vec![vec![truth(1, object)], vec![]];
    let wrong_class = vec![vec![detection(2, object, 0.9)], vec![]];
    assert_eq!(mean_average_precision(&objects, &wrong_class, 0.5).unwrap(), 0.0);
    let wrong_image = vec![vec![], vec![detection(1, object, 0.9)]];
    assert_eq!(mean_average_precision(&objects, &wrong_image, 0.5).unwrap(), 0.0);
    // A class without objects has no AP, and does not enter the mean.
    assert!(average_precision(&objects, &wrong_class, 2, 0.5).unwrap().is_none());
}

#[test]
fn map_is_the_mean_over_classes_with_objects() {
    let (a, b) = (bbox(0.0, 0.0, 20.0), bbox(50.0, 50.0, 20.0));
    let objects = vec![vec![truth(0, a), truth(1, b)]];
    let only_class_0 = vec![vec![detection(0, a, 0.9)]];
    assert_eq!(mean_average_precision(&objects, &only_class_0, 0.5).unwrap(), 0.5);
}

#[test]
fn bad_inputs_are_errors_naming_the_input() {
    let objects = vec![vec![truth(0, bbox(0.0, 0.0, 20.0))]];
    let nan = vec![vec![detection(0, bbox(0.0, 0.0, 20.0), f32::NAN)]];
    assert!(average_precision(&objects, &nan, 0, 0.5).unwrap_err().to_string().contains("score"));
    assert!(average_precision(&objects, &[], 0, 0.5).unwrap_err().to_string().contains("detections"));
    assert!(average_precision(&objects, &[vec![]], 0, 1.5).unwrap_err().to_string().contains("iou_threshold"));
    assert!(mean_average_precision(&[vec![]], &[vec![]], 0.5).unwrap_err().to_string().contains("ground_truth"));
    assert!(BoundingBox::new(5.0, 0.0, 1.0, 1.0).unwrap_err().to_string().contains("box"));
    assert!(BoundingBox::new(f32::INFINITY, 0.0, 1.0, 1.0).is_err());
}
