//! TorchScript models as surrogates, run by LibTorch at run time (feature `tch`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::libtorch::TchTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, DispatchDevice, LibTorch};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{check_batch_independence, Normalized, Surrogate};
use crate::error::{Error, Result};

/// What a TorchScript file does not say about itself: the input it expects and the
/// normalisation it was trained with. Read from the sidecar `<model>.json` next to the file
/// (`scripts/export_torchscript.py` writes one), or declared in code.
///
/// ```
/// use common_weakness::surrogate::TorchScriptSpec;
///
/// let spec: TorchScriptSpec = serde_json::from_str(
///     r#"{"input": [3, 224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "classes": 1000}"#,
/// )?;
/// assert_eq!(spec, TorchScriptSpec::imagenet(224, 1000));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorchScriptSpec {
    /// `[channels, height, width]` of one input image.
    pub input: [usize; 3],
    /// Per-channel mean subtracted from `[0, 1]` pixels before the model (none: the model takes
    /// `[0, 1]` pixels).
    #[serde(default)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation the pixels are divided by (with `mean`).
    #[serde(default)]
    pub std: Option<Vec<f32>>,
    /// Outputs per image (checked at load when given).
    #[serde(default)]
    pub classes: Option<usize>,
    /// The model's name in reports (default: the file's stem).
    #[serde(default)]
    pub name: Option<String>,
}

impl TorchScriptSpec {
    /// An RGB `size × size` ImageNet classifier with torchvision's normalisation.
    pub fn imagenet(size: usize, classes: usize) -> Self {
        Self {
            input: [3, size, size],
            mean: Some(vec![0.485, 0.456, 0.406]),
            std: Some(vec![0.229, 0.224, 0.225]),
            classes: Some(classes),
            name: None,
        }
    }

    /// The sidecar of `model`: the same path with the extension `json`.
    pub fn sidecar_path(model: &Path) -> PathBuf {
        model.with_extension("json")
    }

    /// Reads the sidecar of `model` ([`sidecar_path`](Self::sidecar_path)); a missing or
    /// malformed one is an [`Error::TorchScript`] saying what it should hold.
    pub fn read_sidecar(model: &Path) -> Result<Self> {
        let path = Self::sidecar_path(model);
        let problem = |what: String| Error::TorchScript {
            path: model.to_path_buf(),
            problem: format!(
                "{what}; write {} as {{\"input\": [3, 224, 224], \"mean\": [...], \"std\": [...]}} or declare \
                 the input in code (TorchScriptSpec)",
                path.display()
            ),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| problem(format!("no sidecar ({e})")))?;
        serde_json::from_str(&text).map_err(|e| problem(format!("its sidecar does not parse ({e})")))
    }
}

/// Loads a TorchScript file (`torch.jit.trace` or `torch.jit.script`, then `save`) as a
/// surrogate on a LibTorch `device` (`BackendKind::Tch` or `TchCuda`), its input and
/// normalisation read from the sidecar `<model>.json` ([`TorchScriptSpec`]).
///
/// LibTorch runs the model's forward pass and its input gradient: to Burn's autodiff the whole
/// model is one operation, whose backward pass is PyTorch's own. Images reach the model as
/// `[N, C, H, W]` pixels in `[0, 1]`, normalised inside. The model's parameters get no
/// gradient; the model is put in evaluation mode.
///
/// Loading runs three small forward passes to check the model: its output must be `[N, K]`
/// (`K` as declared, if declared), the same for an image alone as in a batch, and the same
/// twice; a model traced in training mode (dropout, batch statistics) fails the last two with
/// [`Error::TrainingMode`]. A missing or unloadable file, a bad sidecar, a device that is not
/// LibTorch's and a failing forward pass are [`Error::TorchScript`]s naming the file.
///
/// ```no_run
/// use common_weakness::backend::BackendKind;
/// use common_weakness::surrogate::load_torchscript;
///
/// let device = BackendKind::Tch.device()?;
/// let model = load_torchscript("resnet50.pt", &device)?; // reads resnet50.json
/// # Ok::<(), common_weakness::Error>(())
/// ```
pub fn load_torchscript(path: impl AsRef<Path>, device: &Device) -> Result<Box<dyn Surrogate>> {
    let path = path.as_ref();
    if !path.is_file() {
        return Err(Error::TorchScript { path: path.to_path_buf(), problem: "no such file".into() });
    }
    load_torchscript_with(path, TorchScriptSpec::read_sidecar(path)?, device)
}

/// [`load_torchscript`] with the input and normalisation declared in code instead of a sidecar.
pub fn load_torchscript_with(
    path: impl AsRef<Path>,
    spec: TorchScriptSpec,
    device: &Device,
) -> Result<Box<dyn Surrogate>> {
    let path = path.as_ref();
    let fail = |problem: String| Error::TorchScript { path: path.to_path_buf(), problem };
    let torch_device = match device.clone().inner().as_dispatch() {
        DispatchDevice::LibTorch(d) => tch::Device::from(*d),
        other => return Err(fail(format!("runs on LibTorch (backend tch or tch-cuda), not on {other:?}"))),
    };
    let [c, h, w] = spec.input;
    crate::check::at_least_one("TorchScript input size", c.saturating_mul(h).saturating_mul(w))?;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| path.file_stem().map_or_else(|| "torchscript".into(), |s| s.to_string_lossy().into_owned()));
    let mut module = tch::CModule::load_on_device(path, torch_device)
        .map_err(|e| fail(format!("does not load as TorchScript: {}", first_line(&e))))?;
    module.f_set_eval().map_err(|e| fail(format!("cannot be put in evaluation mode: {}", first_line(&e))))?;
    for (_, parameter) in module.named_parameters().map_err(|e| fail(first_line(&e)))? {
        let _ = parameter.set_requires_grad(false);
    }
    let module = Script(module);

    // The forward pass on a batch of the declared input, LibTorch's exceptions caught.
    let probe = tch::Tensor::f_zeros([3, c as i64, h as i64, w as i64], (tch::Kind::Float, torch_device))
        .map_err(|e| fail(format!("no room for images [3, {c}, {h}, {w}]: {}", first_line(&e))))?;
    let outputs = tch::no_grad(|| module.forward(&probe))
        .map_err(|e| fail(format!("its forward pass fails on images [3, {c}, {h}, {w}]: {}", first_line(&e))))?;
    let shape: Vec<usize> = outputs.size().into_iter().map(|d| d as usize).collect();
    if shape.len() != 2 || shape[0] != 3 || spec.classes.is_some_and(|k| k != shape[1]) {
        return Err(Error::ModelOutputShape { model: name, images: 3, actual: shape });
    }

    let model = TorchScript { name, input: spec.input, module: Arc::new(module), device: device.clone() };
    let model: Box<dyn Surrogate> = match (spec.mean, spec.std) {
        (Some(mean), Some(std)) => Box::new(Normalized::new(model, mean, std)?),
        (None, None) => Box::new(model),
        _ => return Err(fail("the sidecar gives a mean without a std or a std without a mean".into())),
    };
    check_inference_mode(model.as_ref(), spec.input, device)?;
    Ok(model)
}

/// Fails with [`Error::TrainingMode`] when the model's outputs on seeded random images differ
/// between two passes (dropout) or between an image alone and in a batch (batch statistics).
fn check_inference_mode(model: &dyn Surrogate, [c, h, w]: [usize; 3], device: &Device) -> Result<()> {
    let images = crate::rng::AttackRng::new(0).uniform([3, c, h, w], 0.0, 1.0, device);
    let first = model.forward(images.clone());
    let difference = crate::host::to_vec(model.forward(images.clone()).sub(first).abs().max())[0];
    let training = |symptom| Error::TrainingMode { model: model.name().to_string(), symptom };
    if difference.is_nan() || difference > 1e-4 {
        return Err(training(format!("two forward passes on the same images differ by {difference}")));
    }
    check_batch_independence(model, images, 1e-3).map_err(|e| match e {
        Error::BatchDependent { index, max_difference, .. } => {
            training(format!("image {index} alone differs from its output in a batch by {max_difference}"))
        }
        other => other,
    })?;
    Ok(())
}

/// The first line of a LibTorch error (the rest is a C++ backtrace).
fn first_line(error: &tch::TchError) -> String {
    error.to_string().lines().find(|l| !l.trim().is_empty()).unwrap_or("unknown error").trim().to_string()
}

/// A loaded TorchScript module, shared by the surrogate and the backward passes in flight.
#[derive(Debug)]
struct Script(tch::CModule);

impl Script {
    fn forward(&self, x: &tch::Tensor) -> std::result::Result<tch::Tensor, tch::TchError> {
        self.0.forward_ts(&[x])
    }
}

/// A TorchScript model on LibTorch, without normalisation: what [`load_torchscript`] wraps.
#[derive(Clone, Debug)]
struct TorchScript {
    name: String,
    input: [usize; 3],
    module: Arc<Script>,
    device: Device,
}

impl Surrogate for TorchScript {
    /// # Panics
    ///
    /// When LibTorch's forward pass throws on images of the declared shape ([`check_input`]
    /// refuses any other), e.g. out of memory.
    ///
    /// [`check_input`]: Surrogate::check_input
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        // Images of another backend cross to LibTorch and the outputs cross back.
        let origin = images.device();
        let images = images.to_device(&self.device);
        let outputs: Tensor<2> = Tensor::from_dispatch(<Dispatch as TorchScriptOps>::torchscript_forward(
            images.into_dispatch(),
            self.module.clone(),
        ));
        outputs.to_device(&origin)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn check_input(&self, shape: [usize; 4]) -> Result<()> {
        if shape[1..] != self.input {
            let [c, h, w] = self.input;
            return Err(Error::Shape {
                what: "images for a TorchScript model",
                expected: format!("[N, {c}, {h}, {w}] (its declared input)"),
                actual: shape.to_vec(),
            });
        }
        Ok(())
    }
}

/// Burn's backend extension for the one operation: the TorchScript module applied to a batch.
/// LibTorch only; Burn's autodiff over LibTorch records it with PyTorch's backward pass.
#[backend_extension(LibTorch: cfg(feature = "tch"), Autodiff)]
trait TorchScriptOps: Backend {
    /// The module's output `[N, K]` for images `x` `[N, C, H, W]`.
    fn torchscript_forward(x: FloatTensor<Self>, module: Arc<Script>) -> FloatTensor<Self>;
}

impl TorchScriptOps for LibTorch {
    fn torchscript_forward(x: FloatTensor<Self>, module: Arc<Script>) -> FloatTensor<Self> {
        let y = tch::no_grad(|| module.forward(&x.tensor))
            .unwrap_or_else(|e| panic!("TorchScript forward: {}", first_line(&e)));
        TchTensor::new(y)
    }
}

/// What the backward pass needs: the leaf LibTorch differentiated from and the output whose
/// graph it kept.
#[derive(Clone, Debug)]
struct Recorded {
    leaf: TchTensor,
    output: TchTensor,
}

#[derive(Debug)]
struct TorchScriptBackward;

impl Backward<LibTorch, 1> for TorchScriptBackward {
    type State = Recorded;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [Some(node_x)] = ops.parents else { return };
        let grad = grads.consume::<LibTorch>(&ops.node);
        let Recorded { leaf, output } = ops.state;
        // The vector-Jacobian product: d/dx of sum(output · grad), grad a constant.
        let product = tch::with_grad(|| (&output.tensor * &grad.tensor).sum(None));
        let mut input_grad = tch::Tensor::run_backward(&[product], &[&leaf.tensor], false, false);
        grads.register::<LibTorch>(node_x.id, TchTensor::new(input_grad.remove(0)));
    }
}

impl<C: CheckpointStrategy> TorchScriptOps for Autodiff<LibTorch, C> {
    fn torchscript_forward(x: FloatTensor<Self>, module: Arc<Script>) -> FloatTensor<Self> {
        let x_node = x.node();
        let x = x.into_primitive();
        match TorchScriptBackward.prepare::<C>([x_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let leaf = x.tensor.detach().set_requires_grad(true);
                let y = tch::with_grad(|| module.forward(&leaf))
                    .unwrap_or_else(|e| panic!("TorchScript forward: {}", first_line(&e)));
                // The output Burn sees and the one holding LibTorch's graph share their memory:
                // `from_existing` tells Burn so, and it never writes into either in place.
                let seen = TchTensor::new(y.detach());
                let kept = TchTensor::from_existing(y, seen.storage.clone());
                prep.finish(Recorded { leaf: TchTensor::new(leaf), output: kept }, seen)
            }
            OpsKind::UnTracked(prep) => prep.finish(LibTorch::torchscript_forward(x, module)),
        }
    }
}
