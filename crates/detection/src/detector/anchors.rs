//! SSD-style multi-scale anchor detector: VGG-like 3 × 3 convolutions with max pooling; heads
//! on a 16 × 16 and an 8 × 8 feature map, each position with three anchor shapes (square,
//! tall, wide); per anchor a softmax over the classes and background, and the box as offsets
//! from the anchor (Liu et al., SSD, in miniature).

use burn::module::Module;
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};
use common_weakness_models::zoo::Conv;

use super::{arg_max, centred_box, host, probabilities, smooth_l1, stem_input, DetectorNet, CLASSES};
use crate::boxes::{iou, BoundingBox, Detection, GroundTruth};

/// Channels per anchor: background and the classes, then the box (4).
const CHANNELS: usize = 1 + CLASSES + 4;
/// Anchor shapes (width, height) in pixels per scale.
const SHAPES: [[(f32, f32); 3]; 2] =
    [[(64.0, 64.0), (44.0, 84.0), (84.0, 44.0)], [(112.0, 112.0), (76.0, 136.0), (136.0, 76.0)]];
/// Each scale's stride in pixels and positions per side.
const SCALES: [(f32, usize); 2] = [(16.0, 16), (32.0, 8)];
/// An anchor overlapping an object by at least this IoU is matched to it.
const MATCH_IOU: f32 = 0.5;
/// Negatives weighted as this many times the positives in the classification loss (SSD's
/// 3 : 1 hard-negative ratio, as a weight).
const NEGATIVE_RATIO: f32 = 3.0;

/// The anchor detector ([`super::Family::Anchors`]).
#[derive(Module, Debug)]
pub struct AnchorNet {
    body: Vec<Conv>,
    fine: Conv,
    coarse_body: Conv,
    coarse: Conv,
}

fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

impl DetectorNet for AnchorNet {
    fn init(device: &Device) -> Self {
        let per_position = SHAPES[0].len() * CHANNELS;
        Self {
            body: vec![
                Conv::new(3, 16, 3, 2, device),
                Conv::new(16, 24, 3, 1, device),
                Conv::new(24, 48, 3, 1, device),
                Conv::new(48, 64, 3, 1, device),
            ],
            fine: Conv::new(64, per_position, 3, 1, device),
            coarse_body: Conv::new(64, 64, 3, 1, device),
            coarse: Conv::new(64, per_position, 3, 1, device),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let x = relu(self.body[0].forward(stem_input(images))); // 64 × 64
        let x = pool(relu(self.body[1].forward(x))); // 32 × 32
        let x = pool(relu(self.body[2].forward(x))); // 16 × 16
        let fine = relu(self.body[3].forward(x));
        let coarse = relu(self.coarse_body.forward(pool(fine.clone()))); // 8 × 8
        let n = fine.dims()[0];
        let flatten = |head: Tensor<4>| {
            let [_, _, h, w] = head.dims();
            head.permute([0, 2, 3, 1]).reshape([n, h * w * SHAPES[0].len(), CHANNELS])
        };
        Tensor::cat(vec![flatten(self.fine.forward(fine)), flatten(self.coarse.forward(coarse))], 1)
    }

    fn confidence(raw: Tensor<3>) -> Tensor<2> {
        softmax(raw.narrow(2, 0, 1 + CLASSES), 2).narrow(2, 1, CLASSES).max_dim(2).squeeze_dim(2)
    }

    /// Cross-entropy over background and classes (negatives weighted to three times the
    /// positives) and smooth L1 on the matched anchors' box offsets, over the number of
    /// matched anchors.
    fn loss(raw: Tensor<3>, truth: &[Vec<GroundTruth>]) -> Tensor<1> {
        let [n, count, _] = raw.dims();
        let device = raw.device();
        let anchors = anchors();
        let mut target = vec![0.0; n * count * (1 + CLASSES)];
        let mut weight = vec![0.0; n * count];
        let mut offsets = vec![0.0; n * count * 4];
        let mut positive = vec![0.0; n * count];
        for (image, objects) in truth.iter().enumerate() {
            let matched = match_anchors(&anchors, objects);
            let positives = matched.iter().filter(|m| m.is_some()).count() as f32;
            let negative_weight = NEGATIVE_RATIO * positives / (count as f32 - positives).max(1.0);
            for (a, m) in matched.iter().enumerate() {
                let k = image * count + a;
                match m {
                    Some(o) => {
                        target[k * (1 + CLASSES) + 1 + objects[*o].class] = 1.0;
                        weight[k] = 1.0;
                        positive[k] = 1.0;
                        offsets[4 * k..4 * k + 4].copy_from_slice(&encode(&anchors[a], &objects[*o].bbox));
                    }
                    None => {
                        target[k * (1 + CLASSES)] = 1.0;
                        weight[k] = negative_weight;
                    }
                }
            }
        }
        let matched = positive.iter().sum::<f32>().max(1.0);
        let log_probability = log_softmax(raw.clone().narrow(2, 0, 1 + CLASSES), 2);
        let cross_entropy = (log_probability * host(target, [n, count, 1 + CLASSES], &device)).sum_dim(2).neg();
        let classification = (cross_entropy * host(weight, [n, count, 1], &device)).sum();
        let error = raw.narrow(2, 1 + CLASSES, 4) - host(offsets, [n, count, 4], &device);
        let boxes = (smooth_l1(error) * host(positive, [n, count, 1], &device)).sum();
        (classification + boxes).div_scalar(matched)
    }

    fn decode(raw: &[f32], min_score: f32) -> Vec<Detection> {
        let anchors = anchors();
        let mut detections = Vec::new();
        for (anchor, v) in anchors.iter().zip(raw.chunks(CHANNELS)) {
            let (class, score) = arg_max(&probabilities(&v[..=CLASSES])[1..]);
            if score < min_score {
                continue;
            }
            let d = &v[1 + CLASSES..];
            let (cx, cy) = (anchor.cx + d[0] * anchor.width, anchor.cy + d[1] * anchor.height);
            let (w, h) = (anchor.width * d[2].clamp(-4.0, 4.0).exp(), anchor.height * d[3].clamp(-4.0, 4.0).exp());
            if let Some(bbox) = centred_box(cx, cy, w, h) {
                detections.push(Detection { class, bbox, score });
            }
        }
        detections
    }
}

/// An anchor's centre and size, in pixels.
struct Anchor {
    cx: f32,
    cy: f32,
    width: f32,
    height: f32,
}

impl Anchor {
    fn bbox(&self) -> BoundingBox {
        let (hw, hh) = (self.width / 2.0, self.height / 2.0);
        BoundingBox { x_min: self.cx - hw, y_min: self.cy - hh, x_max: self.cx + hw, y_max: self.cy + hh }
    }
}

/// Every anchor in output order: scale, row, column, shape.
fn anchors() -> Vec<Anchor> {
    let mut all = Vec::new();
    for ((stride, side), shapes) in SCALES.iter().zip(&SHAPES) {
        for row in 0..*side {
            for column in 0..*side {
                for &(width, height) in shapes {
                    let (cx, cy) = ((column as f32 + 0.5) * stride, (row as f32 + 0.5) * stride);
                    all.push(Anchor { cx, cy, width, height });
                }
            }
        }
    }
    all
}

/// The object each anchor is matched to: its best object at IoU ≥ [`MATCH_IOU`], and every
/// object's best anchor in any case (so that no object goes unmatched).
fn match_anchors(anchors: &[Anchor], objects: &[GroundTruth]) -> Vec<Option<usize>> {
    let boxes: Vec<BoundingBox> = anchors.iter().map(Anchor::bbox).collect();
    let mut matched: Vec<Option<usize>> = boxes
        .iter()
        .map(|a| {
            let (o, overlap) = arg_max(&objects.iter().map(|o| iou(a, &o.bbox)).collect::<Vec<_>>());
            (overlap >= MATCH_IOU).then_some(o)
        })
        .collect();
    for (o, object) in objects.iter().enumerate() {
        let (best, _) = arg_max(&boxes.iter().map(|a| iou(a, &object.bbox)).collect::<Vec<_>>());
        matched[best] = Some(o);
    }
    matched
}

/// An object's box as offsets from an anchor: centre shift over the anchor's size, log size
/// ratio.
fn encode(anchor: &Anchor, b: &BoundingBox) -> [f32; 4] {
    let (cx, cy) = ((b.x_min + b.x_max) / 2.0, (b.y_min + b.y_max) / 2.0);
    [
        (cx - anchor.cx) / anchor.width,
        (cy - anchor.cy) / anchor.height,
        (b.width() / anchor.width).ln(),
        (b.height() / anchor.height).ln(),
    ]
}
