//! CenterNet-style centre-heatmap detector: a strided stem and two residual blocks down to a
//! 32 × 32 map; per position a heatmap logit for each class (trained with the penalty-reduced
//! focal loss on Gaussian peaks at object centres), the centre's sub-cell offset and the
//! box's log size; detections are the local maxima of the heatmaps (Zhou et al., Objects as
//! Points, in miniature).

use burn::module::Module;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};
use common_weakness_models::zoo::Conv;

use super::{centred_box, host, prior_bias, softplus, stem_input, DetectorNet, CLASSES};
use crate::boxes::{Detection, GroundTruth};

/// Pixels per position.
const STRIDE: f32 = 8.0;
/// Positions per side.
const SIDE: usize = 32;
/// The size prior, in pixels.
const PRIOR: f32 = 64.0;
/// Channels per position: class heatmaps, centre offset (2), log size (2).
const CHANNELS: usize = CLASSES + 4;

/// Two 3 × 3 convolutions with an identity shortcut.
#[derive(Module, Debug)]
struct Residual {
    first: Conv,
    second: Conv,
}

impl Residual {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(x.clone() + self.second.forward(relu(self.first.forward(x))))
    }
}

/// The heatmap detector ([`super::Family::Heatmap`]).
#[derive(Module, Debug)]
pub struct HeatmapNet {
    stem: Vec<Conv>,
    blocks: Vec<Residual>,
    neck: Conv,
    head: Conv,
}

impl DetectorNet for HeatmapNet {
    fn init(device: &Device) -> Self {
        let block = || Residual { first: Conv::new(24, 24, 3, 1, device), second: Conv::new(24, 24, 3, 1, device) };
        Self {
            stem: vec![Conv::new(3, 16, 3, 2, device), Conv::new(16, 24, 3, 2, device)],
            blocks: vec![block(), block()],
            neck: Conv::new(24, 32, 3, 1, device),
            head: prior_bias(Conv::new(32, CHANNELS, 1, 1, device), 0..CLASSES, 0.01),
        }
    }

    fn forward(&self, images: Tensor<4>) -> Tensor<3> {
        let mut x = stem_input(images);
        for conv in &self.stem {
            x = relu(conv.forward(x));
        }
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.head.forward(relu(self.neck.forward(x)));
        let n = x.dims()[0];
        x.permute([0, 2, 3, 1]).reshape([n, SIDE * SIDE, CHANNELS])
    }

    fn confidence(raw: Tensor<3>) -> Tensor<2> {
        sigmoid(raw.narrow(2, 0, CLASSES)).max_dim(2).squeeze_dim(2)
    }

    /// The penalty-reduced focal loss (α = 2, β = 4) on the heatmaps, L1 on offset and log
    /// size at each object's centre, over the number of objects.
    fn loss(raw: Tensor<3>, truth: &[Vec<GroundTruth>]) -> Tensor<1> {
        let [n, positions, _] = raw.dims();
        let device = raw.device();
        let mut heat = vec![0.0f32; n * positions * CLASSES];
        let mut centre = vec![0.0; n * positions];
        let mut geometry = vec![0.0; n * positions * 4];
        for (image, objects) in truth.iter().enumerate() {
            for o in objects {
                let b = o.bbox;
                let (cx, cy) = ((b.x_min + b.x_max) / 2.0 / STRIDE, (b.y_min + b.y_max) / 2.0 / STRIDE);
                let (column, row) = ((cx as usize).min(SIDE - 1), (cy as usize).min(SIDE - 1));
                let sigma = (0.36 * b.width().min(b.height()) / STRIDE + 1.0) / 6.0;
                for y in 0..SIDE {
                    for x in 0..SIDE {
                        let d2 = (x as f32 - column as f32).powi(2) + (y as f32 - row as f32).powi(2);
                        let value = (-d2 / (2.0 * sigma * sigma)).exp();
                        let h = &mut heat[((image * positions) + y * SIDE + x) * CLASSES + o.class];
                        *h = h.max(value);
                    }
                }
                let k = image * positions + row * SIDE + column;
                centre[k] = 1.0;
                geometry[4 * k..4 * k + 4].copy_from_slice(&[
                    cx - column as f32,
                    cy - row as f32,
                    (b.width() / PRIOR).ln(),
                    (b.height() / PRIOR).ln(),
                ]);
            }
        }
        let objects = centre.iter().sum::<f32>().max(1.0);
        let peak: Vec<f32> = heat.iter().map(|&h| if h >= 1.0 { 1.0 } else { 0.0 }).collect();
        let heat = host(heat, [n, positions, CLASSES], &device);
        let peak = host(peak, [n, positions, CLASSES], &device);
        let logits = raw.clone().narrow(2, 0, CLASSES);
        let p = sigmoid(logits.clone());
        // ln p = −softplus(−x), ln(1 − p) = −softplus(x).
        let positive = p.clone().neg().add_scalar(1.0).powi_scalar(2) * softplus(logits.clone().neg()) * peak.clone();
        let negative = heat.neg().add_scalar(1.0).powi_scalar(4)
            * p.powi_scalar(2)
            * softplus(logits)
            * peak.neg().add_scalar(1.0);
        let focal = (positive + negative).sum();
        let predicted = Tensor::cat(vec![sigmoid(raw.clone().narrow(2, CLASSES, 2)), raw.narrow(2, CLASSES + 2, 2)], 2);
        let error = (predicted - host(geometry, [n, positions, 4], &device)).abs();
        let boxes = (error * host(centre, [n, positions, 1], &device)).sum();
        (focal + boxes).div_scalar(objects)
    }

    /// Every position whose class heatmap is a 3 × 3 local maximum.
    fn decode(raw: &[f32], min_score: f32) -> Vec<Detection> {
        let score =
            |row: usize, column: usize, class: usize| super::sigmoid(raw[(row * SIDE + column) * CHANNELS + class]);
        let mut detections = Vec::new();
        for row in 0..SIDE {
            for column in 0..SIDE {
                for class in 0..CLASSES {
                    let s = score(row, column, class);
                    if s < min_score {
                        continue;
                    }
                    let neighbours = (row.saturating_sub(1)..=(row + 1).min(SIDE - 1))
                        .flat_map(|r| (column.saturating_sub(1)..=(column + 1).min(SIDE - 1)).map(move |c| (r, c)));
                    if neighbours.into_iter().any(|(r, c)| score(r, c, class) > s) {
                        continue;
                    }
                    let v = &raw[(row * SIDE + column) * CHANNELS + CLASSES..][..4];
                    let cx = (column as f32 + super::sigmoid(v[0])) * STRIDE;
                    let cy = (row as f32 + super::sigmoid(v[1])) * STRIDE;
                    let (w, h) = (PRIOR * v[2].clamp(-4.0, 4.0).exp(), PRIOR * v[3].clamp(-4.0, 4.0).exp());
                    if let Some(bbox) = centred_box(cx, cy, w, h) {
                        detections.push(Detection { class, bbox, score: s });
                    }
                }
            }
        }
        detections
    }
}
