//! How closely an imported model reproduces PyTorch: logits, input gradients, batch
//! independence.

use std::time::Instant;

use burn::tensor::{activation::log_softmax, Device, Int, Tensor, TensorData};
use common_weakness::surrogate::{check_batch_independence, Surrogate};

use crate::{load, load_encoder, Architecture, Reference, Result};

/// One model's agreement with PyTorch on the reference batch. Errors are relative to the
/// largest reference value ([`relative_error`]); gradients are compared with PyTorch's float64
/// gradient, next to PyTorch's own float32 error against it (the precision any float32
/// implementation can be held to: up to 1e-2 in ReLU networks, where rounding decides which side
/// of a kink a unit falls on).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parity {
    /// The model.
    pub model: Architecture,
    /// Relative error of the logits.
    pub logits: f32,
    /// Relative error of the encoder's outputs ([`load_encoder`](crate::load_encoder)), the
    /// penultimate features (none for a TorchScript file, which holds the logits only).
    pub features: Option<f32>,
    /// Relative error of the input gradient of the summed cross-entropy against PyTorch's
    /// float64 gradient.
    pub gradient: f32,
    /// The same for PyTorch's own float32 gradient: the float32 noise floor.
    pub torch_gradient: f32,
    /// Relative L2 error of the input gradient against PyTorch's float64 gradient,
    /// `‖burn − torch64‖ / ‖torch64‖`: less sensitive than the largest difference to the few
    /// units that land on the other side of a kink.
    pub gradient_l2: f32,
    /// The same for PyTorch's own float32 gradient.
    pub torch_gradient_l2: f32,
    /// Relative error of the input gradient against PyTorch's float32 gradient.
    pub gradient_vs_torch32: f32,
    /// Largest difference between an image's logits alone and inside the batch.
    pub batch_difference: f32,
    /// Whether every image's top-1 class equals PyTorch's.
    pub same_top1: bool,
    /// Seconds to load the weights.
    pub load_seconds: f64,
    /// Seconds for one forward and backward pass on the batch.
    pub gradient_seconds: f64,
}

impl Parity {
    /// Loads `model` and its [`Reference`] and compares them on `device`.
    pub fn measure(model: Architecture, device: &Device) -> Result<Self> {
        let reference = Reference::load(model)?;
        let started = Instant::now();
        let surrogate = load(model, device)?;
        let load_seconds = started.elapsed().as_secs_f64();
        let encoder = load_encoder(model, device)?;
        let features = encoder.forward(reference.images(device)).into_data().convert::<f32>();
        let features = features.try_to_vec::<f32>().expect("f32 features");
        let mut parity = Self::compare(model, surrogate.as_ref(), &reference, device, load_seconds)?;
        parity.features = Some(relative_error(&features, &reference.features));
        Ok(parity)
    }

    /// [`measure`](Self::measure) for `model`'s TorchScript export
    /// ([`load_torchscript`](crate::load_torchscript)) against the references the TorchScript
    /// export wrote, on a LibTorch `device`.
    #[cfg(feature = "tch")]
    pub fn measure_torchscript(model: Architecture, device: &Device) -> Result<Self> {
        let reference = Reference::load_from(&crate::torchscript_dir(), model)?;
        let started = Instant::now();
        let surrogate = crate::load_torchscript(model, device)?;
        let load_seconds = started.elapsed().as_secs_f64();
        Self::compare(model, surrogate.as_ref(), &reference, device, load_seconds)
    }

    /// Compares `surrogate`, an implementation of `model`, with `reference`.
    fn compare(
        model: Architecture,
        surrogate: &dyn Surrogate,
        reference: &Reference,
        device: &Device,
        load_seconds: f64,
    ) -> Result<Self> {
        // Timed on the second pass: the first also allocates the backend's buffers.
        logits_and_gradient(surrogate, reference, device);
        let started = Instant::now();
        let (logits, gradient) = logits_and_gradient(surrogate, reference, device);
        let gradient_seconds = started.elapsed().as_secs_f64();
        let classes = logits.len() / reference.labels.len().max(1);
        let top1 = |values: &[f32]| -> Vec<usize> {
            values
                .chunks(classes)
                .map(|row| (0..classes).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0))
                .collect()
        };
        let batch = check_batch_independence(surrogate, reference.images(device), f32::MAX)?;
        Ok(Self {
            model,
            logits: relative_error(&logits, &reference.logits),
            features: None,
            gradient: relative_error(&gradient, &reference.gradient64),
            torch_gradient: relative_error(&reference.gradient, &reference.gradient64),
            gradient_vs_torch32: relative_error(&gradient, &reference.gradient),
            gradient_l2: relative_l2_error(&gradient, &reference.gradient64),
            torch_gradient_l2: relative_l2_error(&reference.gradient, &reference.gradient64),
            batch_difference: batch.max_difference,
            same_top1: top1(&logits) == top1(&reference.logits),
            load_seconds,
            gradient_seconds,
        })
    }
}

/// `surrogate`'s logits on the reference batch and the input gradient of their summed
/// cross-entropy (the quantities PyTorch's reference holds), as row-major vectors.
pub fn logits_and_gradient(surrogate: &dyn Surrogate, reference: &Reference, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let images = reference.images(device).require_grad();
    let logits = surrogate.forward(images.clone());
    let n = logits.dims()[0];
    let labels = reference.labels.iter().map(|&l| l as i64).collect::<Vec<_>>();
    let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [n, 1]), device);
    let loss = log_softmax(logits.clone(), 1).gather(1, labels).sum().neg();
    let gradient = images.grad(&loss.backward()).expect("the pixels require gradients");
    let values = |data: TensorData| data.convert::<f32>().try_to_vec::<f32>().expect("f32 values");
    (values(logits.into_data()), values(gradient.into_data()))
}

/// The largest absolute difference relative to the largest absolute expected value,
/// `max |a − b| / max |b|`; infinite when lengths differ or a value is not finite.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f32 {
    if actual.len() != expected.len() {
        return f32::INFINITY;
    }
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = actual.iter().zip(expected).fold(0.0f32, |m, (a, b)| {
        let d = (a - b).abs();
        if d.is_nan() {
            f32::INFINITY
        } else {
            m.max(d)
        }
    });
    if scale > 0.0 {
        worst / scale
    } else {
        worst
    }
}

/// `‖a − b‖₂ / ‖b‖₂` (or `‖a − b‖₂` when `b` is zero); infinite when lengths differ or a value
/// is not finite.
pub fn relative_l2_error(actual: &[f32], expected: &[f32]) -> f32 {
    if actual.len() != expected.len() {
        return f32::INFINITY;
    }
    let squared = |values: &mut dyn Iterator<Item = f64>| values.map(|v| v * v).sum::<f64>().sqrt();
    let difference = squared(&mut actual.iter().zip(expected).map(|(a, b)| (*a as f64) - (*b as f64)));
    let scale = squared(&mut expected.iter().map(|&b| b as f64));
    let error = if scale > 0.0 { difference / scale } else { difference };
    if error.is_finite() {
        error as f32
    } else {
        f32::INFINITY
    }
}
