//! Ensembles of surrogate models.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::surrogate::Surrogate;

/// Where the models of an ensemble are combined into one ensemble gradient. Attacks own this
/// setting (`LoopSettings::combination`, `RapConfig::combination`; SVRE is a loss ensemble by
/// definition) and so does a [`Landscape`](crate::landscape::Landscape) measurement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Combination {
    /// Loss of the weighted mean of the models' logits (the paper's "logit ensemble").
    #[default]
    LogitMean,
    /// Loss of the weighted sum of the logits (the authors' code; a softmax temperature of n
    /// away from the mean, so gradient directions differ).
    LogitSum,
    /// Weighted mean of the models' losses. Needed when models output embeddings of
    /// different sizes.
    LossMean,
}

/// How the combined ensemble gradient is computed: all models in one backward pass, or model
/// by model so that memory holds one model's graph at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum GradientMode {
    /// [`PerModel`](Self::PerModel) where it costs nothing ([`Combination::LossMean`]) or
    /// where the ensemble is large (at least [`LARGE_ENSEMBLE`](Self::LARGE_ENSEMBLE)
    /// models), [`Joint`](Self::Joint) otherwise, wherever the models are placed
    /// ([`Ensemble::with_devices`]). Joint saves the extra forward pass per model, and on
    /// Burn's remote backend it also saves round trips (measured on loopback servers, it was
    /// the faster mode locally, on one server and split over two; docs/scale.md), but its peak
    /// memory holds every model's graph: measured on one MI-CWA iteration with EfficientNet-Lite0
    /// copies, +148% from one model to four in the joint mode against +12% model by model
    /// (docs/performance.md).
    #[default]
    Auto,
    /// Forward every model, then one backward pass through all of them: peak memory holds
    /// every model's graph.
    Joint,
    /// One forward and backward pass per model, gradients summed: peak memory holds one
    /// model's graph. For the logit combinations the models first run once without a graph
    /// to form the combined logits, whose loss gradient is then sent back through each model
    /// in turn: one extra forward pass per model. Same result as [`Joint`](Self::Joint) up to
    /// floating-point summation order.
    PerModel,
}

impl GradientMode {
    /// The number of models from which [`Auto`](Self::Auto) goes model by model whatever
    /// the combination.
    pub const LARGE_ENSEMBLE: usize = 4;

    /// Whether the ensemble gradient of `models` models under `combination` is computed
    /// model by model.
    ///
    /// ```
    /// use common_weakness::ensemble::{Combination, GradientMode};
    ///
    /// assert!(!GradientMode::Auto.per_model(Combination::LogitMean, 3));
    /// assert!(GradientMode::Auto.per_model(Combination::LogitMean, GradientMode::LARGE_ENSEMBLE));
    /// assert!(GradientMode::Auto.per_model(Combination::LossMean, 1));
    /// ```
    pub fn per_model(self, combination: Combination, models: usize) -> bool {
        match self {
            GradientMode::Auto => combination == Combination::LossMean || models >= Self::LARGE_ENSEMBLE,
            GradientMode::Joint => false,
            GradientMode::PerModel => true,
        }
    }
}

/// Ordered surrogate models with weights: what is attacked. How an attack combines them
/// ([`Combination`]) and in which order it visits them (`VisitOrder`) are the attack's
/// settings, not the ensemble's.
///
/// Weights scale each model's share of the combined ensemble gradient (reverse step,
/// baselines). The CWA inner sweep visits every model once per iteration whatever its weight.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::from_fn;
/// use common_weakness::ensemble::Ensemble;
///
/// let a = from_fn("a", |x: Tensor<4>| x.flatten(1, 3));
/// let b = from_fn("b", |x: Tensor<4>| x.flatten(1, 3).neg());
/// let ensemble = Ensemble::new(vec![Box::new(a), Box::new(b)])
///     .unwrap()
///     .with_weights(vec![2.0, 1.0])
///     .unwrap();
/// assert_eq!(ensemble.names(), vec!["a", "b"]);
/// assert!(Ensemble::new(vec![]).is_err());
/// ```
pub struct Ensemble {
    members: Vec<Box<dyn Surrogate>>,
    weights: Vec<f64>,
    gradient_mode: GradientMode,
    /// Where each model lives, when set; every model on the images' device otherwise.
    devices: Option<Vec<Device>>,
}

impl Ensemble {
    /// An ensemble of `members` with equal weights. Fails on an empty list.
    pub fn new(members: Vec<Box<dyn Surrogate>>) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::EmptyEnsemble);
        }
        let weights = vec![1.0; members.len()];
        Ok(Self { members, weights, gradient_mode: GradientMode::default(), devices: None })
    }

    /// Sets one weight per model (finite, ≥ 0, not all zero).
    pub fn with_weights(mut self, weights: Vec<f64>) -> Result<Self> {
        if weights.len() != self.members.len() {
            return Err(Error::Shape {
                what: "ensemble weights",
                expected: format!("one weight per model ({})", self.members.len()),
                actual: vec![weights.len()],
            });
        }
        for &w in &weights {
            crate::check::non_negative("weight", w)?;
        }
        crate::check::positive("sum of weights", weights.iter().sum())?;
        self.weights = weights;
        Ok(self)
    }

    /// Sets how the combined gradient is computed (memory against one extra forward pass).
    pub fn with_gradient_mode(mut self, mode: GradientMode) -> Self {
        self.gradient_mode = mode;
        self
    }

    /// Declares the device each model lives on (its parameters were loaded there), one per
    /// model: several GPUs of one backend, or devices of Burn's remote backend. The attack
    /// keeps its iterate on the images' device and moves, for every forward pass of model
    /// `i`, the images to `devices[i]` and the outputs back; under autodiff the gradient
    /// returns the same way ([`Ensemble::forward`]). The results equal those of an ensemble
    /// on one device up to the backends' floating-point differences, in either
    /// [`GradientMode`].
    ///
    /// What crosses devices per gradient of one model: the images `[N, C, H, W]` out, the
    /// outputs `[N, K]` back, and for a gradient the outputs' gradient `[N, K]` out and the
    /// images' gradient `[N, C, H, W]` back. The losses and the combined logits of
    /// [`Combination::LogitMean`] and [`Combination::LogitSum`] are formed on the images'
    /// device, where every model's outputs arrive.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use common_weakness::ensemble::Ensemble;
    /// use common_weakness::surrogate::from_fn;
    ///
    /// let model = || Box::new(from_fn("sum", |x: Tensor<4>| x.flatten(1, 3).sum_dim(1)));
    /// let cpu = burn::tensor::Device::default(); // a GPU backend has several: `Device::cuda(1)`, ...
    /// let two = vec![cpu.clone(), cpu];
    /// let ensemble = Ensemble::new(vec![model(), model()]).unwrap().with_devices(two.clone()).unwrap();
    /// assert_eq!(ensemble.devices().unwrap().len(), 2);
    /// assert!(Ensemble::new(vec![model()]).unwrap().with_devices(two).is_err());
    /// ```
    pub fn with_devices(mut self, devices: Vec<Device>) -> Result<Self> {
        if devices.len() != self.members.len() {
            return Err(Error::Shape {
                what: "ensemble devices",
                expected: format!("one device per model ({})", self.members.len()),
                actual: vec![devices.len()],
            });
        }
        self.devices = Some(devices);
        Ok(self)
    }

    /// The devices set by [`Ensemble::with_devices`], in model order.
    pub fn devices(&self) -> Option<&[Device]> {
        self.devices.as_deref()
    }

    /// Model `index`'s outputs for `images`, on the images' device: through the model's own
    /// device when [`Ensemble::with_devices`] placed it elsewhere (differentiable: under
    /// autodiff the gradient travels back the same way). Every forward pass of an attack
    /// goes through here.
    pub fn forward(&self, index: usize, images: Tensor<4>) -> Tensor<2> {
        self.forward_drawn(index, images, None)
    }

    /// [`forward`](Self::forward) of the model as drawn by `draw`
    /// ([`Surrogate::forward_drawn`]), or as it is without one.
    pub fn forward_drawn(&self, index: usize, images: Tensor<4>, draw: Option<u64>) -> Tensor<2> {
        let member = &self.members[index];
        let forward = |images| match draw {
            Some(draw) => member.forward_drawn(images, draw),
            None => member.forward(images),
        };
        match self.devices.as_ref().map(|devices| &devices[index]) {
            Some(device) if *device != images.device() => {
                let home = images.device();
                forward(images.to_device(device)).to_device(&home)
            }
            _ => forward(images),
        }
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: an ensemble cannot be built empty.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The models, in order.
    pub fn members(&self) -> &[Box<dyn Surrogate>] {
        &self.members
    }

    /// The models' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.name()).collect()
    }

    /// The weights, in model order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// How the combined gradient is computed.
    pub fn gradient_mode(&self) -> GradientMode {
        self.gradient_mode
    }

    /// Each model's top-1 predictions for `images` (`[N, C, H, W]` in `[0, 1]`), in model
    /// order; no graph is kept.
    ///
    /// Fails as [`check_images`](crate::attack::check_images) does on bad images, and as
    /// [`predictions`](crate::eval::predictions) does on a model's logits.
    pub fn predictions(&self, images: Tensor<4>) -> Result<Vec<Vec<usize>>> {
        crate::attack::check_images(&images)?;
        let images = images.detach();
        (0..self.len()).map(|index| crate::eval::predictions(self.forward(index, images.clone()).detach())).collect()
    }

    /// Each model's accuracy on `images` against `labels` (one per image), in `[0, 1]`, in
    /// model order: the clean accuracy of the surrogates, or on adversarial images the
    /// white-box accuracy an attack leaves.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use common_weakness::prelude::*;
    ///
    /// // "bright" predicts class 0 for a bright image, "always 1" always class 1.
    /// let bright = from_fn("bright", |x: Tensor<4>| {
    ///     let m = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]).sub_scalar(0.5);
    ///     Tensor::cat(vec![m.clone(), m.neg()], 1)
    /// });
    /// let always_one = from_fn("always 1", |x: Tensor<4>| {
    ///     let zeros = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]).mul_scalar(0.0);
    ///     Tensor::cat(vec![zeros.clone(), zeros.add_scalar(1.0)], 1)
    /// });
    /// let ensemble = Ensemble::new(vec![Box::new(bright), Box::new(always_one)])?;
    /// let device = Default::default();
    /// let images = Tensor::cat(vec![Tensor::<4>::full([1, 1, 2, 2], 0.9, &device), Tensor::full([1, 1, 2, 2], 0.1, &device)], 0);
    /// assert_eq!(ensemble.predictions(images.clone())?, vec![vec![0, 1], vec![1, 1]]);
    /// assert_eq!(ensemble.accuracy(images, &[0, 0])?, vec![0.5, 0.0]);
    /// # Ok::<(), common_weakness::Error>(())
    /// ```
    ///
    /// Fails as [`predictions`](Self::predictions) does, and with [`Error::BatchMismatch`]
    /// when the number of labels is not the number of images.
    pub fn accuracy(&self, images: Tensor<4>, labels: &[usize]) -> Result<Vec<f64>> {
        let n = images.dims()[0];
        if labels.len() != n {
            return Err(Error::BatchMismatch { images: n, labels: labels.len() });
        }
        let predictions = self.predictions(images)?;
        Ok(predictions
            .iter()
            .map(|p| p.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / n.max(1) as f64)
            .collect())
    }
}
