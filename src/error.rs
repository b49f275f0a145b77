//! The crate's one error type.

/// Everything that can go wrong when configuring or running an attack.
///
/// Bad input always surfaces as one of these variants, never as a panic or a silent NaN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ensemble has no surrogate models.
    #[error("the ensemble is empty: add at least one surrogate model")]
    EmptyEnsemble,
    /// The image batch holds no images, or an image dimension is zero.
    #[error("the image batch is empty (shape {shape:?}); expected [N, C, H, W] with every size >= 1")]
    EmptyBatch {
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// A tensor or buffer does not have the expected shape or rank.
    #[error("{what}: expected shape {expected}, got {actual:?}")]
    Shape {
        /// What was being checked.
        what: &'static str,
        /// The expected shape, in words.
        expected: String,
        /// The shape that was given.
        actual: Vec<usize>,
    },
    /// The number of labels differs from the number of images.
    #[error("batch mismatch: {images} images but {labels} labels")]
    BatchMismatch {
        /// Images in the batch.
        images: usize,
        /// Labels given.
        labels: usize,
    },
    /// The image indices given to an attack run are not one per image.
    #[error("{indices} image indices for a batch of {images} images: give one index per image")]
    IndexMismatch {
        /// Images in the batch.
        images: usize,
        /// Indices given.
        indices: usize,
    },
    /// A label (or target class) is not a valid class index of the models.
    #[error("label {label} of image {index} is out of range: the models have {classes} classes")]
    LabelOutOfRange {
        /// Position of the image in the batch.
        index: usize,
        /// The label given.
        label: usize,
        /// Number of classes the models output.
        classes: usize,
    },
    /// A cross-entropy or margin loss was asked of a model with fewer than two classes (over
    /// one logit both losses are constant, so the attack could not move).
    #[error("model `{model}` outputs {classes} class(es); cross-entropy and margin losses need at least 2")]
    TooFewClasses {
        /// The model's name.
        model: String,
        /// The number of outputs it has.
        classes: usize,
    },
    /// Pixels are NaN, infinite, or outside [0, 1].
    #[error("invalid pixels: {count} values are {problem}; images must be finite and in [0, 1]")]
    InvalidPixels {
        /// How many values are wrong.
        count: usize,
        /// What is wrong with them.
        problem: &'static str,
    },
    /// A hyper-parameter is out of its valid range.
    #[error("invalid parameter `{name}` = {value}: {requirement}")]
    InvalidParameter {
        /// The parameter's name (as in the config).
        name: &'static str,
        /// The value given.
        value: f64,
        /// What it must satisfy.
        requirement: &'static str,
    },
    /// Models whose outputs are combined (or scored against labels) disagree in output size.
    #[error(
        "model `{model}` outputs {actual} values per image but `{first}` outputs {expected}; the logit \
         combinations need equal sizes (encoders or detectors of different widths: use Combination::LossMean)"
    )]
    OutputMismatch {
        /// The first model's name.
        first: String,
        /// Its output size.
        expected: usize,
        /// The disagreeing model.
        model: String,
        /// Its output size.
        actual: usize,
    },
    /// A model returned something other than one output row per image.
    #[error("model `{model}` returned shape {actual:?} for a batch of {images} images; expected [{images}, K]")]
    ModelOutputShape {
        /// The model's name.
        model: String,
        /// Images in the batch.
        images: usize,
        /// What it returned.
        actual: Vec<usize>,
    },
    /// The objective evaluated to NaN or infinity.
    #[error("the objective of model `{model}` is not finite at iteration {iteration}")]
    NonFiniteLoss {
        /// The model's name.
        model: String,
        /// The attack iteration (0 = clean images).
        iteration: usize,
    },
    /// A landscape measurement met a NaN or infinite objective, gradient or Hessian-vector
    /// product, and stops rather than return NaN.
    #[error("the {quantity} of {scope} is not finite (NaN or infinite) at a point the landscape measured")]
    NonFiniteMeasurement {
        /// Whose: "model `name`" or "the ensemble".
        scope: String,
        /// `"objective"`, `"gradient"` or `"Hessian-vector product"`.
        quantity: &'static str,
    },
    /// A model's logits hold NaN, so no class can be predicted.
    #[error("{count} logits are NaN: no class can be predicted (is the model or its input broken?)")]
    NonFiniteLogits {
        /// How many logits are NaN.
        count: usize,
    },
    /// Embeddings compared by cosine hold NaN or infinite values.
    #[error(
        "{count} embedding values are NaN or infinite: no cosine can be computed (is the encoder or its input broken?)"
    )]
    NonFiniteEmbedding {
        /// How many values are not finite.
        count: usize,
    },
    /// A gradient or an optimizer's update was NaN or infinite: an attack stops rather than
    /// turn it into a step (a sign of NaN is a full step on some backends).
    #[error(
        "the {quantity} of the {stage} at iteration {iteration} is not finite (NaN or infinite){}; usual causes: \
         a model whose input gradient is infinite somewhere (e.g. `sqrt` at 0), an estimator setting that \
         underflows (e.g. a tiny TI sigma), an optimizer setting that overflows f32",
        culprit.as_ref().map(|m| format!(": model `{m}`'s own gradient is not finite there")).unwrap_or_default()
    )]
    NonFiniteStep {
        /// The step whose gradient or update it was.
        stage: Stage,
        /// `"gradient"` or `"update"`.
        quantity: &'static str,
        /// The attack iteration (from 1).
        iteration: usize,
        /// For a non-finite ensemble gradient (reverse and outer steps): the first model whose
        /// own gradient at the current point is not finite, if one is.
        culprit: Option<String>,
    },
    /// A setting of one of an attack's optimizers is invalid.
    #[error("the {role} optimizer: {source}")]
    Optimizer {
        /// `"reverse"`, `"inner"` or `"outer"`.
        role: &'static str,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// The objective does not fit the request (e.g. a targeted feature-distortion loss).
    #[error("invalid objective: {0}")]
    InvalidObjective(&'static str),
    /// A surrogate's outputs for an image depend on the other images in its batch.
    #[error(
        "model `{model}` is batch-dependent: image {index} alone differs from the batched output by {max_difference} \
         (batch norm in training mode? Burn's BatchNorm uses batch statistics on an autodiff device unless frozen; \
         replace it with `FrozenBatchNorm`)"
    )]
    BatchDependent {
        /// The model's name.
        model: String,
        /// The first image whose output differs.
        index: usize,
        /// Largest absolute difference found.
        max_difference: f32,
    },
    /// A universal attack's dataset or variable does not fit (no batches, a patch larger
    /// than the images, boxes missing for a placement on objects, ...).
    #[error("universal attack, batch {batch}: {reason}")]
    InvalidDataset {
        /// Position of the offending batch in the dataset (0 when it concerns all of them).
        batch: usize,
        /// What is wrong, in words.
        reason: String,
    },
    /// A checkpoint cannot be resumed: unreadable, or written by a different run.
    #[error("invalid checkpoint: {0}")]
    InvalidCheckpoint(String),
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration could not be (de)serialised.
    #[error("configuration (de)serialisation failed: {0}")]
    Config(#[from] serde_json::Error),
    /// A backend was asked for that this build does not have.
    #[error("backend `{backend}` is not in this build: enable the Cargo feature `{feature}`")]
    BackendNotEnabled {
        /// The backend's name (`tch`, `wgpu`, ...).
        backend: &'static str,
        /// The feature that builds it.
        feature: &'static str,
    },
    /// A backend name that does not exist.
    #[error("unknown backend `{name}`: expected one of flex, ndarray, tch, tch-cuda, wgpu, cuda")]
    UnknownBackend {
        /// The name given.
        name: String,
    },
    /// A TorchScript model file that cannot be used: missing, not TorchScript, a bad sidecar,
    /// a device that is not LibTorch's, or a forward pass that fails on the declared input.
    #[error("TorchScript model `{path}`: {problem}")]
    TorchScript {
        /// The model file.
        path: std::path::PathBuf,
        /// What is wrong, and what to do about it.
        problem: String,
    },
    /// A model whose outputs are random or depend on the rest of the batch, as a model saved
    /// in training mode behaves (dropout, batch statistics).
    #[error(
        "model `{model}` behaves as in training mode: {symptom}; call model.eval() before torch.jit.trace or \
         torch.jit.script, then save it again"
    )]
    TrainingMode {
        /// The model's name.
        model: String,
        /// What gave it away.
        symptom: String,
    },
}

/// The step of an attack iteration that a [`Error::NonFiniteStep`] happened in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The reverse (ascent, flatness) step on the ensemble gradient.
    Reverse,
    /// An inner (per-model, closeness) step.
    Inner {
        /// The model whose gradient was stepped on.
        model: String,
    },
    /// The outer step (the update of the iterate).
    Outer,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Reverse => write!(f, "reverse step"),
            Stage::Inner { model } => write!(f, "inner step on model `{model}`"),
            Stage::Outer => write!(f, "outer step"),
        }
    }
}

/// `Result<T, common_weakness::Error>`; a second parameter gives back std's `Result<T, E>`,
/// so a glob import of the prelude does not break `Result<T, E>` in user code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `result`, its error attributed to the `role` (reverse, inner, outer) optimizer.
pub(crate) fn in_role(role: &'static str, result: Result<()>) -> Result<()> {
    result.map_err(|source| Error::Optimizer { role, source: Box::new(source) })
}
