//! Objectives: what an attack minimises.
//!
//! **One sign convention:** every attack *minimises* the objective's per-sample loss. The goal
//! fixes the sign once: an untargeted attack minimises `−CE(f(x), y)` (it raises the true
//! label's loss), a targeted attack minimises `CE(f(x), t)`.

use std::fmt;
use std::sync::Arc;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether the labels are the true classes (to move away from) or targets (to move to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Goal {
    /// Make the model stop predicting the given (true) labels.
    Untargeted,
    /// Make the model predict the given target labels.
    Targeted,
}

/// The built-in losses.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum LossKind {
    /// Softmax cross-entropy of the label (the paper's loss).
    CrossEntropy,
    /// Carlini–Wagner margin: the label's logit against the best other logit, floored at
    /// `−confidence` once the attack has succeeded by that margin.
    Margin {
        /// How far past the decision boundary the attack keeps pushing (κ ≥ 0).
        #[serde(with = "crate::json_float")]
        confidence: f64,
    },
    /// The logit loss of Zhao et al., *On Success and Simplicity: A Second Look at
    /// Transferable Targeted Attacks*, NeurIPS 2021: the label's raw logit, raised when
    /// targeted (`−z_t` minimised) and lowered when untargeted (`z_y` minimised). Unlike the
    /// cross-entropy its gradient does not vanish once the target class wins, which is why
    /// the paper runs it for 300 iterations in targeted transfer.
    Logit,
    /// Feature distortion `‖f(x) − f(x_nat)‖²` (maximised; the paper's loss against vision
    /// encoders such as Bard's). Needs no labels; models may output embeddings.
    FeatureDistortion,
    /// Detector confidence: the mean of the `top_k` largest outputs of each image, each
    /// output one candidate box's objectness × class score (minimised, so that objects are no
    /// longer detected; T-SEA's and the authors' detection loss with `top_k = 1` is the
    /// maximum). Needs no labels; `top_k` larger than the outputs means all of them.
    Confidence {
        /// How many of the highest scores are averaged (≥ 1).
        top_k: usize,
    },
    /// Po+Trip, Li et al., *Towards Transferable Targeted Attack*, CVPR 2020, for targeted
    /// transfer: the Poincaré distance between the L1-normalised logits `u = z/‖z‖₁` and the
    /// target's one-hot shrunk by ξ = 10⁻⁵ (`v = max(e_t − ξ, 0)`), `d(u, v) = arcosh(1 +
    /// 2‖u − v‖²/((1 − ‖u‖²)(1 − ‖v‖²)))`, plus `weight` times the triplet term
    /// `[D(z, e_t) − D(z, e_y) + margin]₊` with `D(a, b) = 1 − |a·b|/(‖a‖‖b‖)`, which also
    /// pushes the logits away from the true class `y`. Targeted only; needs the true labels
    /// ([`Objective::with_true_labels`]). The paper: margin γ = 0.007, weight λ = 0.01.
    PoincareTriplet {
        /// The triplet margin γ (≥ 0).
        #[serde(with = "crate::json_float")]
        margin: f64,
        /// The triplet term's weight λ (≥ 0; 0 is the Poincaré loss alone).
        #[serde(with = "crate::json_float")]
        weight: f64,
    },
    /// Targeted embedding matching `1 − cos(f(x), f(x_target))` (minimised): pulls each
    /// model's embedding of the adversarial image toward its embedding of a target image
    /// (the strongest recent attacks on vision encoders). Needs target images
    /// ([`Objective::embedding_match`]); no labels.
    EmbeddingMatch,
}

impl LossKind {
    /// Po+Trip with the paper's margin γ = 0.007 and weight λ = 0.01.
    pub fn po_trip() -> Self {
        LossKind::PoincareTriplet { margin: 0.007, weight: 0.01 }
    }
}

/// What a custom loss receives for one model (or for the combined ensemble output).
pub struct LossInput {
    /// The model's outputs at the current images, `[N, K]`.
    pub outputs: Tensor<2>,
    /// One-hot labels `[N, K]`, when the objective has labels.
    pub one_hot: Option<Tensor<2>>,
    /// The same model's outputs at the reference images, `[N, K]` (no gradient): the clean
    /// images, or the target images of [`Objective::embedding_match`].
    pub reference_outputs: Tensor<2>,
}

type CustomLoss = Arc<dyn Fn(LossInput) -> Tensor<1> + Send + Sync>;

#[derive(Clone)]
enum Loss {
    Builtin(LossKind),
    Custom(CustomLoss),
}

/// A goal, its labels, and the loss to minimise.
///
/// ```
/// use common_weakness::objective::{LossKind, Objective};
///
/// let untargeted = Objective::untargeted(vec![3, 1, 4]);
/// let targeted = Objective::targeted(vec![0, 0, 0]).with_loss(LossKind::Margin { confidence: 5.0 });
/// assert_eq!(untargeted.labels(), Some(&[3, 1, 4][..]));
/// assert!(targeted.validate(3).is_ok());
/// assert!(targeted.validate(4).is_err()); // 4 images, 3 labels
/// ```
#[derive(Clone)]
pub struct Objective {
    goal: Goal,
    labels: Option<Vec<usize>>,
    true_labels: Option<Vec<usize>>,
    loss: Loss,
    target_images: Option<Tensor<4>>,
    mixing_pool: Option<MixingPool>,
}

/// Images an input transformation mixes into the attacked ones (Admix), with their classes:
/// each attacked image is mixed with pool images of other classes than its label.
#[derive(Clone, Debug)]
pub struct MixingPool {
    /// `[M, C, H, W]` images, pixels in `[0, 1]`, shaped like the attacked ones.
    pub images: Tensor<4>,
    /// Their classes, one per image.
    pub labels: Vec<usize>,
}

impl fmt::Debug for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loss = match &self.loss {
            Loss::Builtin(kind) => format!("{kind:?}"),
            Loss::Custom(_) => "Custom".to_string(),
        };
        f.debug_struct("Objective")
            .field("goal", &self.goal)
            .field("labels", &self.labels)
            .field("true_labels", &self.true_labels)
            .field("loss", &loss)
            .field("target_images", &self.target_images.as_ref().map(|t| t.dims()))
            .field("mixing_pool", &self.mixing_pool.as_ref().map(|p| p.images.dims()))
            .finish()
    }
}

impl Objective {
    /// A built-in loss without target images.
    fn builtin(goal: Goal, labels: Option<Vec<usize>>, kind: LossKind) -> Self {
        Self { goal, labels, true_labels: None, loss: Loss::Builtin(kind), target_images: None, mixing_pool: None }
    }

    /// Untargeted cross-entropy: move each image away from its true label.
    pub fn untargeted(labels: Vec<usize>) -> Self {
        Self::builtin(Goal::Untargeted, Some(labels), LossKind::CrossEntropy)
    }

    /// Targeted cross-entropy: move each image towards its target label.
    pub fn targeted(targets: Vec<usize>) -> Self {
        Self::builtin(Goal::Targeted, Some(targets), LossKind::CrossEntropy)
    }

    /// Untargeted feature distortion: push each model's output away from its clean output.
    ///
    /// Its gradient is exactly zero at the clean images, so attacks using it need a random
    /// start (they refuse to run without one rather than silently return the clean images).
    pub fn feature_distortion() -> Self {
        Self::builtin(Goal::Untargeted, None, LossKind::FeatureDistortion)
    }

    /// A user loss: `loss(input)` returns the per-sample values `[N]` to **minimise**.
    pub fn custom(labels: Option<Vec<usize>>, loss: impl Fn(LossInput) -> Tensor<1> + Send + Sync + 'static) -> Self {
        Self {
            goal: Goal::Untargeted,
            labels,
            true_labels: None,
            loss: Loss::Custom(Arc::new(loss)),
            target_images: None,
            mixing_pool: None,
        }
    }

    /// Detector confidence ([`LossKind::Confidence`]): minimise the mean of each image's
    /// `top_k` highest scores.
    pub fn confidence(top_k: usize) -> Self {
        Self::builtin(Goal::Untargeted, None, LossKind::Confidence { top_k })
    }

    /// Targeted embedding matching ([`LossKind::EmbeddingMatch`]): pull every model's
    /// embedding of each image toward its embedding of `targets`, `[N, C, H, W]` (one target
    /// per image) or `[1, C, H, W]` (one target for all), pixels in `[0, 1]`.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use common_weakness::objective::{Goal, Objective};
    ///
    /// let target = Tensor::<4>::ones([1, 3, 8, 8], &Default::default());
    /// let objective = Objective::embedding_match(target);
    /// assert_eq!(objective.goal(), Goal::Targeted);
    /// assert!(objective.validate(5).is_ok()); // one target for five images
    /// ```
    pub fn embedding_match(targets: Tensor<4>) -> Self {
        Self { target_images: Some(targets), ..Self::builtin(Goal::Targeted, None, LossKind::EmbeddingMatch) }
    }

    /// Replaces the loss with a built-in one, keeping goal and labels.
    pub fn with_loss(mut self, kind: LossKind) -> Self {
        self.loss = Loss::Builtin(kind);
        self
    }

    /// Adds the images' true classes to a targeted objective, for the losses that also push
    /// away from them ([`LossKind::PoincareTriplet`]).
    ///
    /// ```
    /// use common_weakness::objective::{LossKind, Objective};
    ///
    /// let po_trip = Objective::targeted(vec![7, 7])
    ///     .with_loss(LossKind::PoincareTriplet { margin: 0.007, weight: 0.01 })
    ///     .with_true_labels(vec![2, 5]);
    /// assert!(po_trip.validate(2).is_ok());
    /// assert!(Objective::targeted(vec![7, 7]).with_loss(LossKind::po_trip()).validate(2).is_err());
    /// ```
    pub fn with_true_labels(mut self, labels: Vec<usize>) -> Self {
        self.true_labels = Some(labels);
        self
    }

    /// Adds the images Admix mixes in ([`Copies::Admix`](crate::gradient::Copies::Admix)), with
    /// their classes: each attacked image is mixed with pool images whose class differs from
    /// its label.
    ///
    /// ```
    /// use burn::tensor::Tensor;
    /// use common_weakness::objective::Objective;
    ///
    /// let pool = Tensor::<4>::full([3, 1, 4, 4], 0.5, &Default::default());
    /// let objective = Objective::untargeted(vec![0, 2]).with_mixing_pool(pool, vec![0, 1, 2]);
    /// assert!(objective.validate(2).is_ok());
    /// assert_eq!(objective.mixing_pool().unwrap().labels, vec![0, 1, 2]);
    /// ```
    pub fn with_mixing_pool(mut self, images: Tensor<4>, labels: Vec<usize>) -> Self {
        self.mixing_pool = Some(MixingPool { images, labels });
        self
    }

    /// The images Admix mixes in, if given.
    pub fn mixing_pool(&self) -> Option<&MixingPool> {
        self.mixing_pool.as_ref()
    }

    /// The true classes of a targeted objective, if given.
    pub fn true_labels(&self) -> Option<&[usize]> {
        self.true_labels.as_deref()
    }

    /// The goal.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// The labels (true classes or targets), if any.
    pub fn labels(&self) -> Option<&[usize]> {
        self.labels.as_deref()
    }

    /// The target images of [`Objective::embedding_match`], if any.
    pub fn target_images(&self) -> Option<&Tensor<4>> {
        self.target_images.as_ref()
    }

    /// The built-in loss, or `None` for a custom one.
    pub fn loss_kind(&self) -> Option<LossKind> {
        match self.loss {
            Loss::Builtin(kind) => Some(kind),
            Loss::Custom(_) => None,
        }
    }

    /// Checks the objective against a batch of `images` images (class ranges are checked
    /// once the models' output sizes are known).
    pub fn validate(&self, images: usize) -> Result<()> {
        if let Some(labels) = &self.labels {
            if labels.len() != images {
                return Err(Error::BatchMismatch { images, labels: labels.len() });
            }
        }
        if let Some(pool) = &self.mixing_pool {
            crate::attack::check_images(&pool.images)?;
            if pool.labels.len() != pool.images.dims()[0] {
                return Err(Error::BatchMismatch { images: pool.images.dims()[0], labels: pool.labels.len() });
            }
        }
        match self.loss {
            Loss::Builtin(LossKind::FeatureDistortion) if self.goal == Goal::Targeted => {
                Err(Error::InvalidObjective("feature distortion is untargeted"))
            }
            Loss::Builtin(LossKind::CrossEntropy | LossKind::Margin { .. } | LossKind::Logit)
                if self.labels.is_none() =>
            {
                Err(Error::InvalidObjective("cross-entropy, margin and logit losses need labels"))
            }
            Loss::Builtin(LossKind::Margin { confidence }) => crate::check::non_negative("confidence", confidence),
            Loss::Builtin(LossKind::PoincareTriplet { margin, weight }) => {
                crate::check::non_negative("margin", margin)?;
                crate::check::non_negative("weight", weight)?;
                match (&self.labels, &self.true_labels) {
                    _ if self.goal != Goal::Targeted => Err(Error::InvalidObjective("Po+Trip is a targeted loss")),
                    (None, _) => Err(Error::InvalidObjective("Po+Trip needs target labels")),
                    (_, None) => {
                        Err(Error::InvalidObjective("Po+Trip needs the true labels too (Objective::with_true_labels)"))
                    }
                    (_, Some(truth)) if truth.len() != images => {
                        Err(Error::BatchMismatch { images, labels: truth.len() })
                    }
                    _ => Ok(()),
                }
            }
            Loss::Builtin(LossKind::Confidence { top_k }) => crate::check::at_least_one("top_k", top_k),
            Loss::Builtin(LossKind::EmbeddingMatch) => match &self.target_images {
                None => {
                    Err(Error::InvalidObjective("embedding matching needs target images (Objective::embedding_match)"))
                }
                Some(targets) if targets.dims()[0] != 1 && targets.dims()[0] != images => Err(Error::Shape {
                    what: "target images",
                    expected: format!("one target for all images or one per image (1 or {images})"),
                    actual: targets.dims().to_vec(),
                }),
                Some(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Checks the labels against model `model` with `classes` outputs. The built-in
    /// classification losses need two classes: over one logit they are constant.
    pub(crate) fn check_classes(&self, model: &str, classes: usize) -> Result<()> {
        if matches!(self.loss, Loss::Builtin(LossKind::CrossEntropy | LossKind::Margin { .. })) && classes < 2 {
            return Err(Error::TooFewClasses { model: model.to_string(), classes });
        }
        let uses_classes = !matches!(
            self.loss,
            Loss::Builtin(LossKind::FeatureDistortion | LossKind::Confidence { .. } | LossKind::EmbeddingMatch)
        );
        if uses_classes {
            for labels in self.labels.iter().chain(&self.true_labels) {
                if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
                    return Err(Error::LabelOutOfRange { index, label, classes });
                }
            }
        }
        Ok(())
    }

    /// One-hot labels `[N, classes]`, if the objective has labels.
    pub(crate) fn one_hot(&self, classes: usize, device: &Device) -> Option<Tensor<2>> {
        Some(one_hot_rows(self.labels.as_ref()?, classes, device))
    }

    /// The per-sample loss `[N]` to minimise.
    ///
    /// Fails with [`Error::InvalidObjective`] when a classification loss gets no labels, and
    /// with [`Error::Shape`] when a custom loss does not return one value per image.
    pub fn per_sample(&self, input: LossInput) -> Result<Tensor<1>> {
        // Untargeted: minimise log p_y (= −CE) and z_y − max_{j≠y} z_j.
        // Targeted: minimise −log p_t (= CE) and max_{j≠t} z_j − z_t.
        let toward_label = match self.goal {
            Goal::Untargeted => 1.0,
            Goal::Targeted => -1.0,
        };
        let kind = match &self.loss {
            Loss::Custom(loss) => {
                let images = input.outputs.dims()[0];
                let value = loss(input);
                return match value.dims() {
                    [n] if n == images => Ok(value),
                    actual => Err(Error::Shape {
                        what: "custom loss",
                        expected: format!("[{images}] (one value per image)"),
                        actual: actual.to_vec(),
                    }),
                };
            }
            Loss::Builtin(kind) => *kind,
        };
        let LossInput { outputs, one_hot, reference_outputs } = input;
        Ok(match (kind, one_hot) {
            (LossKind::FeatureDistortion, _) => (outputs - reference_outputs).square().sum_dim(1).squeeze_dim(1).neg(),
            (LossKind::EmbeddingMatch, _) => {
                let dot = (outputs.clone() * reference_outputs.clone()).sum_dim(1);
                let squared_norms = outputs.square().sum_dim(1) * reference_outputs.square().sum_dim(1);
                // A zero embedding has no direction: its cosine is 0 with a finite gradient,
                // not NaN (the floor comes before the square root).
                (dot / squared_norms.clamp_min(1e-24).sqrt()).neg().add_scalar(1.0).squeeze_dim(1)
            }
            (LossKind::Confidence { top_k }, _) => {
                let k = top_k.min(outputs.dims()[1]);
                let (_, highest) = outputs.clone().detach().topk_with_indices(k, 1);
                outputs.gather(1, highest).mean_dim(1).squeeze_dim(1)
            }
            (LossKind::CrossEntropy, Some(one_hot)) => {
                let label_log_prob = (log_softmax(outputs, 1) * one_hot).sum_dim(1).squeeze_dim::<1>(1);
                label_log_prob.mul_scalar(toward_label)
            }
            (LossKind::PoincareTriplet { margin, weight }, Some(target)) => {
                let [_, classes] = outputs.dims();
                let truth = self.true_labels.as_deref().ok_or(Error::InvalidObjective(
                    "Po+Trip needs the true labels too (Objective::with_true_labels)",
                ))?;
                let truth = one_hot_rows(truth, classes, &outputs.device());
                let triplet = (cosine_distance(outputs.clone(), target.clone())
                    - cosine_distance(outputs.clone(), truth))
                .add_scalar(margin as f32)
                .clamp_min(0.0);
                poincare_distance(outputs, target) + triplet.mul_scalar(weight as f32)
            }
            (LossKind::Logit, Some(one_hot)) => {
                (outputs * one_hot).sum_dim(1).squeeze_dim::<1>(1).mul_scalar(toward_label)
            }
            (LossKind::Margin { confidence }, Some(one_hot)) => {
                let margin = label_lead(outputs, &one_hot).mul_scalar(toward_label);
                margin.clamp_min(-confidence as f32).squeeze_dim(1)
            }
            (_, None) => {
                return Err(Error::InvalidObjective("cross-entropy, margin, logit and Po+Trip losses need labels"))
            }
        })
    }
}

/// Per row, the label's logit minus the best other logit, `[N, 1]` (the Carlini–Wagner margin
/// before its sign and floor).
pub(crate) fn label_lead(outputs: Tensor<2>, one_hot: &Tensor<2>) -> Tensor<2> {
    let label_logit = (outputs.clone() * one_hot.clone()).sum_dim(1);
    // −∞, not a large negative number, so that no logit, however negative, loses to the
    // masked label.
    let best_other = outputs.mask_fill(one_hot.clone().equal_elem(1.0), f32::NEG_INFINITY).max_dim(1);
    label_logit - best_other
}

/// `labels` one-hot, `[N, classes]` (a label out of range is a zero row).
fn one_hot_rows(labels: &[usize], classes: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0.0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        if label < classes {
            values[row * classes + label] = 1.0;
        }
    }
    crate::host::tensor(values, [labels.len(), classes], device)
}

/// The Poincaré distance of Po+Trip between the L1-normalised logits and the shrunk one-hot
/// target, per row: `arcosh(1 + θ)`, `θ = 2‖u − v‖²/((1 − ‖u‖²)(1 − ‖v‖²))`. The factors are
/// floored so that logits with a single non-zero entry (‖u‖ = 1) give a large finite value.
fn poincare_distance(outputs: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let u = outputs.clone() / outputs.abs().sum_dim(1).clamp_min(1e-12);
    let v = target.sub_scalar(POINCARE_SHRINK).clamp_min(0.0);
    let gap = (u.clone() - v.clone()).square().sum_dim(1);
    let room =
        (u.square().sum_dim(1).neg().add_scalar(1.0) * v.square().sum_dim(1).neg().add_scalar(1.0)).clamp_min(1e-12);
    let theta = gap.mul_scalar(2.0) / room;
    // arcosh(1 + θ) = ln(1 + θ + √(θ(2 + θ))), the root floored so its gradient stays finite.
    let root = (theta.clone() * theta.clone().add_scalar(2.0)).clamp_min(1e-24).sqrt();
    (theta.add_scalar(1.0) + root).log().squeeze_dim(1)
}

/// Po+Trip's cosine distance to a class, per row: `1 − |z_c|/‖z‖₂`.
fn cosine_distance(outputs: Tensor<2>, one_hot: Tensor<2>) -> Tensor<1> {
    let norm = outputs.clone().square().sum_dim(1).clamp_min(1e-24).sqrt();
    ((outputs * one_hot).sum_dim(1).abs() / norm).neg().add_scalar(1.0).squeeze_dim(1)
}

/// Po+Trip's ξ: the target one-hot is shrunk by it so that it lies inside the unit ball.
const POINCARE_SHRINK: f32 = 1e-5;
