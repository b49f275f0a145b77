//! Four detector families, small enough to train on a CPU, different enough in design that a
//! patch made on some of them has to transfer to the others.
//!
//! | family | file | design | candidates |
//! |---|---|---|---|
//! | [`Family::Grid`] (YOLO-style) | `grid.rs` | plain strided convolutions, leaky ReLU; one 16 × 16 grid, objectness × class per cell, box relative to a prior | 256 cells |
//! | [`Family::Anchors`] (SSD-style) | `anchors.rs` | VGG-like convolutions and max pooling; two scales (16 × 16, 8 × 8), three anchor shapes each, softmax with a background class | 960 anchors |
//! | [`Family::Heatmap`] (CenterNet-style) | `heatmap.rs` | residual blocks; a 32 × 32 heatmap per class (focal loss on Gaussian peaks), size and offset at the peak | 1,024 positions |
//! | [`Family::PerPixel`] (FCOS-style) | `per_pixel.rs` | depthwise-separable blocks, GELU; per position class scores, distances to the four edges and centre-ness | 1,024 positions |
//!
//! Every detector takes `[N, 3, 256, 256]` scenes in `[0, 1]` and, as real detectors resize
//! their input, first averages 2 × 2 pixels (128 × 128 seen); boxes are in scene pixels. Its
//! raw output is `[N, candidates, channels]`; [`DetectorNet::confidence`] turns it into one
//! differentiable score per candidate (objectness × class probability, or its equivalent), the
//! output an attack sees; [`DetectorNet::decode`] turns one image's raw output into
//! detections, to which [`detect`] applies non-maximum suppression.

mod anchors;
mod grid;
mod heatmap;
mod per_pixel;

pub use anchors::AnchorNet;
pub use grid::GridNet;
pub use heatmap::HeatmapNet;
pub use per_pixel::PerPixelNet;

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{ModuleSnapshot, SafetensorsStore};
use common_weakness::surrogate::{from_module, Surrogate};
use common_weakness_models::zoo::Conv;

use crate::boxes::{BoundingBox, Detection, GroundTruth};
use crate::error::{invalid, Result};
use crate::nms::non_maximum_suppression;

/// Number of object classes (Fashion-MNIST's).
pub const CLASSES: usize = 10;
/// The side of the scenes every detector takes.
pub const INPUT_SIZE: usize = 256;
/// The folder of the committed weights.
pub const WEIGHTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/detectors");
/// Candidates scoring below this are not decoded (VOC AP counts every ranked detection, so
/// the floor only bounds the work).
pub const MIN_SCORE: f32 = 0.01;
/// The IoU above which non-maximum suppression drops the weaker of two same-class boxes.
pub const NMS_IOU: f32 = 0.45;
/// Detections kept per image after suppression.
pub const MAX_DETECTIONS: usize = 50;

/// A detector architecture of this crate.
pub trait DetectorNet: Module + Sync + Sized {
    /// A freshly initialised network (from Burn's seeded backend RNG).
    fn init(device: &Device) -> Self;
    /// Raw predictions `[N, candidates, channels]` for scenes `[N, 3, 256, 256]` in `[0, 1]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<3>;
    /// One confidence in `[0, 1]` per candidate, `[N, candidates]`: what the detector's
    /// decoding ranks by, differentiable (the attack's output).
    fn confidence(raw: Tensor<3>) -> Tensor<2>;
    /// The training loss of a batch, summed over its images.
    fn loss(raw: Tensor<3>, truth: &[Vec<GroundTruth>]) -> Tensor<1>;
    /// The detections of one image from its raw predictions (row-major
    /// `[candidates, channels]`) scoring at least `min_score`, before suppression.
    fn decode(raw: &[f32], min_score: f32) -> Vec<Detection>;
}

/// The detector families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// YOLO-style single-scale grid ([`GridNet`]).
    Grid,
    /// SSD-style multi-scale anchors ([`AnchorNet`]).
    Anchors,
    /// CenterNet-style centre heatmaps ([`HeatmapNet`]).
    Heatmap,
    /// FCOS-style anchor-free per-position boxes ([`PerPixelNet`]).
    PerPixel,
}

impl Family {
    /// Every family, in the order of `docs/detection.md`.
    pub const ALL: [Family; 4] = [Family::Grid, Family::Anchors, Family::Heatmap, Family::PerPixel];

    /// Short name: the weights file stem and the name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Family::Grid => "yolo-grid",
            Family::Anchors => "ssd-anchors",
            Family::Heatmap => "centernet-heatmap",
            Family::PerPixel => "fcos-per-pixel",
        }
    }

    /// The family called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// `data/detectors/{name}.safetensors`.
    pub fn weights_path(self) -> PathBuf {
        Path::new(WEIGHTS_DIR).join(format!("{}.safetensors", self.name()))
    }

    /// The committed detector.
    pub fn load(self, device: &Device) -> Result<Box<dyn Detector>> {
        self.load_from(self.weights_path(), device)
    }

    /// The detector with weights from `path` (safetensors, tensor names the module paths).
    pub fn load_from(self, path: impl AsRef<Path>, device: &Device) -> Result<Box<dyn Detector>> {
        let path = path.as_ref();
        Ok(match self {
            Family::Grid => Box::new(Loaded { family: self, net: load_net::<GridNet>(path, device)? }),
            Family::Anchors => Box::new(Loaded { family: self, net: load_net::<AnchorNet>(path, device)? }),
            Family::Heatmap => Box::new(Loaded { family: self, net: load_net::<HeatmapNet>(path, device)? }),
            Family::PerPixel => Box::new(Loaded { family: self, net: load_net::<PerPixelNet>(path, device)? }),
        })
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A loaded detector of any family: detections for evaluation, and a surrogate whose outputs
/// are its candidates' confidences, for attacks ([`common_weakness::objective::Objective::confidence`]).
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness_detection::detector::Family;
///
/// let device = Default::default();
/// let detector = Family::Grid.load(&device).unwrap(); // the committed weights
/// let scenes = Tensor::<4>::full([2, 3, 256, 256], 0.5, &device);
/// assert_eq!(detector.confidence(scenes.clone()).dims(), [2, 256]); // one per grid cell
/// assert_eq!(detector.surrogate().name(), "yolo-grid");
/// assert_eq!(detector.detect(scenes).unwrap().len(), 2); // detections per scene
/// ```
pub trait Detector: Send + Sync {
    /// Its family.
    fn family(&self) -> Family;
    /// Per-candidate confidences `[N, candidates]`.
    fn confidence(&self, images: Tensor<4>) -> Tensor<2>;
    /// The detections of every image, after non-maximum suppression.
    fn detect(&self, images: Tensor<4>) -> Result<Vec<Vec<Detection>>>;
    /// The detector as a frozen surrogate named after its family, outputs its confidences.
    fn surrogate(&self) -> Box<dyn Surrogate>;
}

struct Loaded<N> {
    family: Family,
    net: N,
}

impl<N: DetectorNet + 'static> Detector for Loaded<N> {
    fn family(&self) -> Family {
        self.family
    }

    fn confidence(&self, images: Tensor<4>) -> Tensor<2> {
        N::confidence(self.net.forward(images))
    }

    fn detect(&self, images: Tensor<4>) -> Result<Vec<Vec<Detection>>> {
        detect(&self.net, images)
    }

    fn surrogate(&self) -> Box<dyn Surrogate> {
        let forward = |net: &N, images: Tensor<4>| N::confidence(net.forward(images));
        Box::new(from_module(self.family.name(), self.net.clone(), forward))
    }
}

/// The detections of every image by `net`: decoded above [`MIN_SCORE`], suppressed per class
/// at [`NMS_IOU`], the best [`MAX_DETECTIONS`] kept. Fails on a non-finite score.
pub fn detect<N: DetectorNet>(net: &N, images: Tensor<4>) -> Result<Vec<Vec<Detection>>> {
    let raw = net.forward(images);
    let [n, candidates, channels] = raw.dims();
    let values =
        raw.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| invalid("raw", format!("{e:?}"), "f32"))?;
    values
        .chunks(candidates * channels)
        .take(n)
        .map(|image| {
            let mut kept = non_maximum_suppression(N::decode(image, MIN_SCORE), NMS_IOU)?;
            kept.truncate(MAX_DETECTIONS);
            Ok(kept)
        })
        .collect()
}

/// Loads safetensors weights into a freshly built network; every tensor must be present.
pub fn load_net<N: DetectorNet>(path: impl AsRef<Path>, device: &Device) -> Result<N> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(invalid(
            "weights",
            path.display(),
            "missing: train it with `cargo run --release -p common-weakness-detection --example train_detectors`",
        ));
    }
    let mut net = N::init(device);
    let mut store = SafetensorsStore::from_file(path);
    let result = net
        .load_from(&mut store)
        .map_err(|e| invalid("weights", format!("{}: {e}", path.display()), "readable safetensors"))?;
    if !result.errors.is_empty() || !result.missing.is_empty() {
        let problem = format!("{}: missing {:?}, errors {:?}", path.display(), result.missing, result.errors);
        return Err(invalid("weights", problem, "every tensor of the architecture"));
    }
    Ok(net)
}

/// Saves a network's parameters as safetensors, replacing any file at `path`.
pub fn save_net<N: DetectorNet>(net: &N, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| invalid("out", format!("{}: {e}", parent.display()), "a folder that can be created"))?;
    }
    let mut store = SafetensorsStore::from_file(path)
        .overwrite(true)
        .metadata("producer", "common-weakness-detection examples/train_detectors.rs");
    net.save_into(&mut store).map_err(|e| invalid("out", format!("{}: {e}", path.display()), "writable"))
}

/// What every detector does first: scene pixels standardised around mid-grey, and 2 × 2
/// averaged to 128 × 128.
fn stem_input(images: Tensor<4>) -> Tensor<4> {
    avg_pool2d(images.sub_scalar(0.5).mul_scalar(4.0), AvgPoolOptions::new([2, 2]))
}

/// `conv` with the bias of its output channels `channels` set to the logit of `prior`, so that
/// the untrained detector sees few objects everywhere (RetinaNet's initialisation; without
/// it the many empty positions swamp the first steps of a focal or cross-entropy loss).
fn prior_bias(mut conv: Conv, channels: std::ops::Range<usize>, prior: f32) -> Conv {
    let device = conv.bias.val().device();
    let mut bias: Vec<f32> = conv.bias.val().into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 bias");
    bias[channels].fill((prior / (1.0 - prior)).ln());
    let count = bias.len();
    conv.bias = Param::from_tensor(Tensor::from_data(TensorData::new(bias, [count]), &device));
    conv
}

/// `ln(1 + eˣ)`, elementwise, without overflow (Burn's `softplus` overflows past x ≈ 88).
fn softplus<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone().clamp_min(0.0) + x.abs().neg().exp().log1p()
}

/// Elementwise binary cross-entropy of logits against targets in `[0, 1]`.
fn bce_with_logits<const D: usize>(logits: Tensor<D>, targets: Tensor<D>) -> Tensor<D> {
    softplus(logits.clone()) - logits * targets
}

/// Smooth L1 (Huber with δ = 1), elementwise.
fn smooth_l1<const D: usize>(difference: Tensor<D>) -> Tensor<D> {
    let magnitude = difference.abs();
    let small = magnitude.clone().clamp_max(1.0);
    small.clone().powi_scalar(2).mul_scalar(0.5) + magnitude - small
}

/// A host buffer as a `[N, candidates, width]` tensor.
fn host(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A box from its centre and size, clipped to the scene; `None` when nothing is left.
fn centred_box(cx: f32, cy: f32, width: f32, height: f32) -> Option<BoundingBox> {
    edges_box(cx - width / 2.0, cy - height / 2.0, cx + width / 2.0, cy + height / 2.0)
}

/// A box from its edges, clipped to the scene; `None` when nothing is left or an edge is not
/// finite.
fn edges_box(x_min: f32, y_min: f32, x_max: f32, y_max: f32) -> Option<BoundingBox> {
    let side = INPUT_SIZE as f32;
    let b = BoundingBox::new(
        x_min.clamp(0.0, side),
        y_min.clamp(0.0, side),
        x_max.clamp(0.0, side),
        y_max.clamp(0.0, side),
    )
    .ok()?;
    (b.area() > 0.0).then_some(b)
}

/// The index and value of the largest of `values`.
fn arg_max(values: &[f32]) -> (usize, f32) {
    values
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| if v > best.1 { (i, v) } else { best })
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Softmax of a few logits, on the host.
fn probabilities(logits: &[f32]) -> Vec<f32> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - top).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.iter().map(|e| e / total).collect()
}
