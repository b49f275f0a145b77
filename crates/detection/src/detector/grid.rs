//! YOLO-style single-scale grid detector: plain strided convolutions with leaky ReLU down to
//! a 16 × 16 grid; each cell predicts objectness, class logits, the object's centre inside the
//! cell and its size relative to a 96-pixel prior (Redmon et al., YOLOv1/v2 in miniature).

use burn::module::Module;
use burn::tensor::activation::{leaky_relu, log_softmax, sigmoid, softmax};
use burn::tensor::{Device, Tensor};
use common_weakness_models::zoo::Conv;

use super::{arg_max, bce_with_logits, centred_box, host, prior_bias, probabilities, stem_input, DetectorNet, CLASSES};
use crate::boxes::{Detection, GroundTruth};

/// Pixels per cell.
const STRIDE: f32 = 16.0;
/// Cells per side.
const CELLS: usize = 16;
/// The box prior, in pixels.
const PRIOR: f32 = 96.0;
/// Channels per cell: objectness, classes, centre offset (2), log size (2).
const CHANNELS: usize = 1 + CLASSES + 4;
/// Weight of the cells without an object in the objectness loss (YOLO's λ_noobj).
const NO_OBJECT: f32 = 0.5;
/// Weight of the box loss (YOLO's λ_coord).
const COORDINATES: f32 = 5.0;

/// The grid detector ([`super::Family::Grid`]).
#[derive(Module, Debug)]
pub struct GridNet {
    body: Vec<Conv>,
    head: Conv,
}

impl DetectorNet for GridNet {
    fn init(device: &Device) -> Self {
        let body = vec![
            Conv::new(3, 16, 3, 2, device),
            Conv::new(16, 32, 3, 2, device),
            Conv::new(32, 48, 3, 1, device),
            Conv::new(48, 64, 3, 2, device),
            Conv::new(64, 64, 3, 1, device),
        ];
        Self { body, head: prior_bias(Conv::new(64, CHANNELS, 1, 1, device), 0..1, 0.01) }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let mut x = stem_input(images);
        for conv in &self.body {
            x = leaky_relu(conv.forward(x), 0.1);
        }
        let n = x.dims()[0];
        self.head.forward(x).permute([0, 2, 3, 1]).reshape([n, CELLS * CELLS, CHANNELS])
    }

    fn confidence(raw: Tensor<3>) -> Tensor<2> {
        let objectness = sigmoid(raw.clone().narrow(2, 0, 1));
        let class = softmax(raw.narrow(2, 1, CLASSES), 2).max_dim(2);
        (objectness * class).squeeze_dim(2)
    }

    /// YOLO's sum of squared errors for the boxes, binary cross-entropy for objectness,
    /// cross-entropy for the class, over the cell holding each object's centre; mean over
    /// images.
    fn loss(raw: Tensor<3>, truth: &[Vec<GroundTruth>]) -> Tensor<1> {
        let [n, cells, _] = raw.dims();
        let device = raw.device();
        let mut object = vec![0.0; n * cells];
        let mut class = vec![0.0; n * cells * CLASSES];
        let mut offset = vec![0.0; n * cells * 2];
        let mut size = vec![0.0; n * cells * 2];
        for (image, objects) in truth.iter().enumerate() {
            for o in objects {
                let b = o.bbox;
                let (cx, cy) = ((b.x_min + b.x_max) / 2.0 / STRIDE, (b.y_min + b.y_max) / 2.0 / STRIDE);
                let (column, row) = ((cx as usize).min(CELLS - 1), (cy as usize).min(CELLS - 1));
                let k = image * cells + row * CELLS + column;
                object[k] = 1.0;
                class[k * CLASSES..(k + 1) * CLASSES].fill(0.0);
                class[k * CLASSES + o.class] = 1.0;
                offset[2 * k..2 * k + 2].copy_from_slice(&[cx - column as f32, cy - row as f32]);
                size[2 * k..2 * k + 2].copy_from_slice(&[(b.width() / PRIOR).ln(), (b.height() / PRIOR).ln()]);
            }
        }
        let weight: Vec<f32> = object.iter().map(|&o| o + NO_OBJECT * (1.0 - o)).collect();
        let object = host(object, [n, cells, 1], &device);
        let weight = host(weight, [n, cells, 1], &device);
        let objectness = (bce_with_logits(raw.clone().narrow(2, 0, 1), object.clone()) * weight).sum();
        let log_probability = log_softmax(raw.clone().narrow(2, 1, CLASSES), 2);
        let classification = (log_probability * host(class, [n, cells, CLASSES], &device)).sum().neg();
        let offset_error = sigmoid(raw.clone().narrow(2, 1 + CLASSES, 2)) - host(offset, [n, cells, 2], &device);
        let size_error = raw.narrow(2, 3 + CLASSES, 2) - host(size, [n, cells, 2], &device);
        let boxes = ((offset_error.powi_scalar(2) + size_error.powi_scalar(2)) * object).sum().mul_scalar(COORDINATES);
        (objectness + classification + boxes).div_scalar(n as f32)
    }

    fn decode(raw: &[f32], min_score: f32) -> Vec<Detection> {
        let mut detections = Vec::new();
        for (cell, v) in raw.chunks(CHANNELS).enumerate() {
            let (class, probability) = arg_max(&probabilities(&v[1..=CLASSES]));
            let score = super::sigmoid(v[0]) * probability;
            if score < min_score {
                continue;
            }
            let (row, column) = ((cell / CELLS) as f32, (cell % CELLS) as f32);
            let (cx, cy) =
                ((column + super::sigmoid(v[1 + CLASSES])) * STRIDE, (row + super::sigmoid(v[2 + CLASSES])) * STRIDE);
            let (w, h) = (PRIOR * v[3 + CLASSES].clamp(-4.0, 4.0).exp(), PRIOR * v[4 + CLASSES].clamp(-4.0, 4.0).exp());
            if let Some(bbox) = centred_box(cx, cy, w, h) {
                detections.push(Detection { class, bbox, score });
            }
        }
        detections
    }
}
