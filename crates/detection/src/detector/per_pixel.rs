//! FCOS-style anchor-free per-position detector: two strided convolutions and
//! depthwise-separable blocks with GELU down to a 32 × 32 map; every position near an object's centre predicts
//! its class (sigmoid focal loss), the distances to the box's four edges (IoU loss) and its
//! centre-ness, which multiplies the class score at test time (Tian et al., FCOS, in
//! miniature).

use burn::module::Module;
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::{Device, Tensor};
use common_weakness_models::zoo::Conv;

use super::{arg_max, bce_with_logits, edges_box, host, prior_bias, stem_input, DetectorNet, CLASSES};
use crate::boxes::{Detection, GroundTruth};

/// Pixels per position.
const STRIDE: f32 = 8.0;
/// Positions per side.
const SIDE: usize = 32;
/// Edge distances are `SCALE · exp(output)` pixels.
const SCALE: f32 = 32.0;
/// Channels per position: classes, edge distances (left, top, right, bottom), centre-ness.
const CHANNELS: usize = CLASSES + 5;
/// Positions within this many strides of an object's centre (and inside its box) are its
/// positives (FCOS's centre sampling).
const CENTRE_RADIUS: f32 = 2.5;
/// The focal loss's α (weight of the positives).
const ALPHA: f32 = 0.25;
/// The focal loss's γ.
const GAMMA: i32 = 2;

/// A depthwise 3 × 3 convolution followed by a pointwise 1 × 1 one.
#[derive(Module, Debug)]
struct Separable {
    depthwise: Conv,
    pointwise: Conv,
}

impl Separable {
    fn new(input: usize, output: usize, stride: usize, device: &Device) -> Self {
        Self { depthwise: Conv::depthwise(input, 3, stride, device), pointwise: Conv::new(input, output, 1, 1, device) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pointwise.forward(gelu(self.depthwise.forward(x)))
    }
}

/// The per-position detector ([`super::Family::PerPixel`]).
#[derive(Module, Debug)]
pub struct PerPixelNet {
    stem: Vec<Conv>,
    blocks: Vec<Separable>,
    head: Separable,
}

impl DetectorNet for PerPixelNet {
    fn init(device: &Device) -> Self {
        Self {
            stem: vec![Conv::new(3, 24, 3, 2, device), Conv::new(24, 48, 3, 2, device)],
            blocks: vec![Separable::new(48, 64, 1, device), Separable::new(64, 64, 1, device)],
            head: Separable {
                pointwise: prior_bias(Conv::new(64, CHANNELS, 1, 1, device), 0..CLASSES, 0.01),
                ..Separable::new(64, CHANNELS, 1, device)
            },
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let mut x = stem_input(images);
        for conv in &self.stem {
            x = gelu(conv.forward(x));
        }
        for block in &self.blocks {
            x = gelu(block.forward(x));
        }
        let x = self.head.forward(x);
        let n = x.dims()[0];
        x.permute([0, 2, 3, 1]).reshape([n, SIDE * SIDE, CHANNELS])
    }

    fn confidence(raw: Tensor<3>) -> Tensor<2> {
        let class = sigmoid(raw.clone().narrow(2, 0, CLASSES)).max_dim(2);
        let centreness = sigmoid(raw.narrow(2, CLASSES + 4, 1));
        (class * centreness).clamp_min(1e-12).sqrt().squeeze_dim(2)
    }

    /// The sigmoid focal loss on the classes at every position, and, at the positives, the
    /// IoU loss (−ln IoU) of the edge distances and the cross-entropy of centre-ness, over
    /// the number of positives.
    fn loss(raw: Tensor<3>, truth: &[Vec<GroundTruth>]) -> Tensor<1> {
        let [n, positions, _] = raw.dims();
        let device = raw.device();
        let mut class = vec![0.0; n * positions * CLASSES];
        let mut edges = vec![1.0; n * positions * 4];
        let mut centreness = vec![0.0; n * positions];
        let mut positive = vec![0.0; n * positions];
        for (image, objects) in truth.iter().enumerate() {
            for position in 0..positions {
                let Some((o, distances)) = assign(position, objects) else { continue };
                let k = image * positions + position;
                class[k * CLASSES + objects[o].class] = 1.0;
                edges[4 * k..4 * k + 4].copy_from_slice(&distances);
                centreness[k] = centre_ness(&distances);
                positive[k] = 1.0;
            }
        }
        let positives = positive.iter().sum::<f32>().max(1.0);
        let target = host(class, [n, positions, CLASSES], &device);
        let logits = raw.clone().narrow(2, 0, CLASSES);
        let p = sigmoid(logits.clone());
        let p_true = p.clone() * target.clone() + p.neg().add_scalar(1.0) * target.clone().neg().add_scalar(1.0);
        let alpha = target.clone().mul_scalar(2.0 * ALPHA - 1.0).add_scalar(1.0 - ALPHA);
        let focal = (alpha * p_true.neg().add_scalar(1.0).powi_scalar(GAMMA) * bce_with_logits(logits, target)).sum();
        let positive = host(positive, [n, positions, 1], &device);
        let predicted = raw.clone().narrow(2, CLASSES, 4).clamp(-6.0, 4.0).exp().mul_scalar(SCALE);
        let iou = edge_iou(predicted, host(edges, [n, positions, 4], &device));
        let boxes = (iou.clamp_min(1e-6).log().neg() * positive.clone()).sum();
        let centre = bce_with_logits(raw.narrow(2, CLASSES + 4, 1), host(centreness, [n, positions, 1], &device));
        (focal + boxes + (centre * positive).sum()).div_scalar(positives)
    }

    fn decode(raw: &[f32], min_score: f32) -> Vec<Detection> {
        let mut detections = Vec::new();
        for (position, v) in raw.chunks(CHANNELS).enumerate() {
            let (class, logit) = arg_max(&v[..CLASSES]);
            let score = (super::sigmoid(logit) * super::sigmoid(v[CLASSES + 4])).sqrt();
            if score < min_score {
                continue;
            }
            let (px, py) = centre(position);
            let d: Vec<f32> = v[CLASSES..CLASSES + 4].iter().map(|o| SCALE * o.clamp(-6.0, 4.0).exp()).collect();
            if let Some(bbox) = edges_box(px - d[0], py - d[1], px + d[2], py + d[3]) {
                detections.push(Detection { class, bbox, score });
            }
        }
        detections
    }
}

/// The pixel centre of a position.
fn centre(position: usize) -> (f32, f32) {
    (((position % SIDE) as f32 + 0.5) * STRIDE, ((position / SIDE) as f32 + 0.5) * STRIDE)
}

/// The object a position is responsible for (the smallest whose box holds it within
/// [`CENTRE_RADIUS`] strides of its centre) and the distances to its edges.
fn assign(position: usize, objects: &[GroundTruth]) -> Option<(usize, [f32; 4])> {
    let (px, py) = centre(position);
    let radius = CENTRE_RADIUS * STRIDE;
    objects
        .iter()
        .enumerate()
        .filter_map(|(o, object)| {
            let b = object.bbox;
            let distances = [px - b.x_min, py - b.y_min, b.x_max - px, b.y_max - py];
            let (cx, cy) = ((b.x_min + b.x_max) / 2.0, (b.y_min + b.y_max) / 2.0);
            let near = (px - cx).abs() < radius && (py - cy).abs() < radius;
            (near && distances.iter().all(|&d| d > 0.0)).then_some((o, distances, b.area()))
        })
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(o, distances, _)| (o, distances))
}

/// FCOS's centre-ness of a position inside a box, from its edge distances.
fn centre_ness(d: &[f32; 4]) -> f32 {
    (d[0].min(d[2]) / d[0].max(d[2]) * d[1].min(d[3]) / d[1].max(d[3])).sqrt()
}

/// The IoU of two boxes around the same point, given as distances to their edges
/// `[…, 4]` (left, top, right, bottom).
fn edge_iou(predicted: Tensor<3>, target: Tensor<3>) -> Tensor<3> {
    let area = |d: &Tensor<3>| {
        (d.clone().narrow(2, 0, 1) + d.clone().narrow(2, 2, 1))
            * (d.clone().narrow(2, 1, 1) + d.clone().narrow(2, 3, 1))
    };
    let overlap = predicted.clone().min_pair(target.clone());
    let intersection = area(&overlap);
    let union = area(&predicted) + area(&target) - intersection.clone();
    intersection / union
}
