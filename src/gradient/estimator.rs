//! The gradient estimator: diversity, sampling and smoothing composed.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::copies::{Copies, DrawnCopy, Inputs};
use super::diversity::{apply_all, InputDiversity};
use super::evaluator::{Evaluation, InputTransform, Target};
use super::smoothing::GaussianSmoothing;
use super::spectrum::spectrum_sample;
use super::warp::Spline;
use crate::check::{at_least_one, at_most, non_negative};
use crate::error::{Error, Result};
use crate::host;
use crate::norm::Normalization;
use crate::rng::AttackRng;

/// Averaging the gradient over points around the iterate (random, or on EMI's line).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Sampling {
    /// The CWA authors' "VMI": the mean gradient over `samples` points `x + u`,
    /// `u ~ U(−range·ε, range·ε)` element-wise (not clipped to [0, 1]).
    Neighbourhood {
        /// Number of points (the authors: 20 for VMI-FGSM, 8 per model in VMI-CWA).
        samples: usize,
        /// Half-width of the box, in multiples of the budget ε (the authors: 1.5).
        #[serde(with = "crate::json_float")]
        range: f64,
    },
    /// Wang & He's variance tuning (CVPR 2021): the gradient used is `∇L(x_t) + v_t`, and
    /// `v_{t+1} = mean_k ∇L(x_t + u_k) − ∇L(x_t)` with `u_k ~ U(−range·ε, range·ε)`.
    /// `v` is kept per model (and for the ensemble) across iterations.
    VarianceTuning {
        /// Number of neighbourhood points N (the paper: 20).
        samples: usize,
        /// Half-width of the box in multiples of ε (the paper's β: 1.5).
        #[serde(with = "crate::json_float")]
        range: f64,
    },
    /// PGN, Ge et al., *Boosting Adversarial Transferability by Achieving Flat Local Maxima*,
    /// NeurIPS 2023 (penalising the gradient norm, a flatness method like CWA's reverse
    /// step): for each of `samples` points `x' = x + u`, `u ~ U(−range·ε, range·ε)`, the
    /// gradient `g₁` at `x'` and `g₂` at the point one normalised step up the objective,
    /// `x'' = x' + step·ε·g₁/mean|g₁|`; the estimate is the mean of `(1 − balance)·g₁ +
    /// balance·g₂`. The recorded losses are those at the points `x'`.
    GradientNormPenalty {
        /// Number of points N (the paper: 20).
        samples: usize,
        /// Half-width of the box in multiples of ε (the paper's ζ = 3ε: 3).
        #[serde(with = "crate::json_float")]
        range: f64,
        /// The look-up step in multiples of ε (the paper's α = ε/T: 1/T).
        #[serde(with = "crate::json_float")]
        step: f64,
        /// The weight δ of the second gradient (the paper: 0.5).
        #[serde(with = "crate::json_float")]
        balance: f64,
    },
    /// EMI, Wang et al., *Boosting Adversarial Transferability through Enhanced Momentum*,
    /// BMVC 2021: the mean gradient at `samples` points on a line through `x` along the
    /// previous iteration's estimate `ḡ` (normalised by its mean absolute value), `x +
    /// c_k·ε·ḡ/mean|ḡ|` with `c_k` evenly spaced in `[−range, range]` (one sample: `c = 0`).
    /// At the first iteration there is no previous estimate and every point is `x`. The
    /// estimate is kept per gradient target (each model, the ensemble) across iterations.
    LinearLookAround {
        /// Number of points N (the paper: 11).
        samples: usize,
        /// Half-length of the line in multiples of ε (the paper's radius 7 in steps α =
        /// ε/T: 7/T).
        #[serde(with = "crate::json_float")]
        range: f64,
    },
    /// GRA, Zhu et al., *Boosting Adversarial Transferability via Gradient Relevance
    /// Attack*, ICCV 2023: the gradient `g` at `x` and the mean `ḡ` over `samples` points
    /// `x + u`, `u ~ U(−range·ε, range·ε)`, weighted by their cosine `s = cos(g, ḡ)` per
    /// image: `s·g + (1 − s)·ḡ`. Pair it with [`DecayIndicator`](crate::optim::DecayIndicator)
    /// for the paper's attack. The recorded losses are those at `x`.
    Relevance {
        /// Number of neighbourhood points N (the paper: 20).
        samples: usize,
        /// Half-width of the box in multiples of ε (the paper's β: 3.5).
        #[serde(with = "crate::json_float")]
        range: f64,
    },
    /// SSA (Long et al., ECCV 2022): the mean gradient at `samples` spectrum-transformed
    /// copies `idct2(dct2(x + ξ) ⊙ M)`, `ξ ~ N(0, σ²)`, `M ~ U(1−ρ, 1+ρ)`, each taken with
    /// respect to the transformed image as a new leaf (as the authors do).
    Spectrum {
        /// Number of copies N (the authors: 20).
        samples: usize,
        /// Spectrum mask half-width ρ (the authors: 0.5).
        #[serde(with = "crate::json_float")]
        rho: f64,
        /// Noise standard deviation σ in pixel units (the authors: 16/255).
        #[serde(with = "crate::json_float")]
        sigma: f64,
    },
}

/// How every input gradient of an attack is estimated: optional sampling (VMI, SSA, PGN, EMI,
/// GRA), at each point optional transformed copies (SIM, MaskBlock, BSR, SIA, ANDA, DeCoWA,
/// Admix) each seen through optional input diversity (DI), and optional smoothing (TI) of the
/// result. The default is the plain gradient.
///
/// ```
/// use common_weakness::gradient::{GaussianSmoothing, GradientEstimator, InputDiversity};
///
/// // DI + TI: random resize-and-pad inside the graph, then a smoothed gradient.
/// let di_ti = GradientEstimator::default()
///     .with_diversity(InputDiversity::resize_pad())
///     .with_smoothing(GaussianSmoothing::default());
/// assert!(di_ti.validate().is_ok());
/// assert!(GradientEstimator::default().is_plain());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(default)]
pub struct GradientEstimator {
    /// DI: a random transform of the input inside the graph.
    pub diversity: Option<InputDiversity>,
    /// VMI, SSA, PGN, EMI or GRA: averaging over points around the iterate.
    pub sampling: Option<Sampling>,
    /// SIM, MaskBlock, BSR, SIA, ANDA, DeCoWA or Admix: averaging over transformed copies of
    /// each point.
    pub copies: Option<Copies>,
    /// TI: Gaussian smoothing of the result.
    pub smoothing: Option<GaussianSmoothing>,
}

/// What an estimator remembers between iterations for one gradient target (VMI's `v`, EMI's
/// previous estimate): keep one per gradient target in an attack's state, starting from the
/// default, and pass it to every [`Run::gradient`](crate::attack::Run::gradient) for that
/// target.
#[derive(Default)]
pub struct EstimatorState {
    variance: Option<Tensor<4>>,
    previous: Option<Tensor<4>>,
}

crate::snapshot_fields!(EstimatorState { variance, previous });

impl GradientEstimator {
    /// Adds input diversity.
    pub fn with_diversity(mut self, diversity: InputDiversity) -> Self {
        self.diversity = Some(diversity);
        self
    }

    /// Adds sampling.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Adds transformed copies.
    pub fn with_copies(mut self, copies: Copies) -> Self {
        self.copies = Some(copies);
        self
    }

    /// Adds smoothing.
    pub fn with_smoothing(mut self, smoothing: GaussianSmoothing) -> Self {
        self.smoothing = Some(smoothing);
        self
    }

    /// True when this is the plain gradient.
    pub fn is_plain(&self) -> bool {
        *self == Self::default()
    }

    /// True when the estimate draws random numbers (input diversity, sampling or random
    /// copies), so that the attack's seed changes it.
    pub fn is_random(&self) -> bool {
        self.diversity.is_some() || self.sampling.is_some() || self.copies.is_some_and(|copies| copies.is_random())
    }

    /// Checks every part's parameters.
    pub fn validate(&self) -> Result<()> {
        if let Some(diversity) = &self.diversity {
            diversity.validate()?;
        }
        if let Some(smoothing) = &self.smoothing {
            smoothing.validate()?;
        }
        if let Some(copies) = &self.copies {
            copies.validate()?;
        }
        match self.sampling {
            None => Ok(()),
            Some(
                Sampling::Neighbourhood { samples, range }
                | Sampling::VarianceTuning { samples, range }
                | Sampling::LinearLookAround { samples, range }
                | Sampling::Relevance { samples, range },
            ) => {
                at_least_one("samples", samples)?;
                non_negative("range", range)
            }
            Some(Sampling::GradientNormPenalty { samples, range, step, balance }) => {
                at_least_one("samples", samples)?;
                non_negative("range", range)?;
                non_negative("step", step)?;
                non_negative("balance", balance)?;
                at_most("balance", balance, 1.0, "must be <= 1")
            }
            Some(Sampling::Spectrum { samples, rho, sigma }) => {
                at_least_one("samples", samples)?;
                non_negative("rho", rho)?;
                at_most("rho", rho, 1.0, "must be <= 1")?;
                non_negative("sigma", sigma)
            }
        }
    }

    /// The evaluation at `point`: the mean over its copies, if any, each through a freshly
    /// drawn input transform (for the batch `images`), if any.
    fn once(
        &self,
        evaluate: &Target<'_>,
        point: &Tensor<4>,
        images: Inputs<'_>,
        rng: &mut AttackRng,
    ) -> Result<Evaluation> {
        let Some(copies) = &self.copies else { return self.diverse(evaluate, point, images, rng, None) };
        // DeCoWA's spline depends only on the image size: solved once for all the copies.
        let spline = match *copies {
            Copies::Warp { mesh, .. } => Some(Spline::new(mesh, [images.shape[2], images.shape[3]])),
            _ => None,
        };
        mean_of(copies.count(), |index| {
            let copy = match (*copies, &spline) {
                (Copies::Warp { noise_scale, step, .. }, Some(spline)) => {
                    resisting_warp(spline, evaluate, point, images, rng, (noise_scale, step))?
                }
                _ => copies.draw(index, images, rng, &point.device())?,
            };
            self.diverse(evaluate, point, images, rng, Some(&|x| copy.apply(x)))
        })
    }

    /// One evaluation at `point` of the models on `copy` of it (the point itself without
    /// one), through a freshly drawn input transform if any.
    fn diverse(
        &self,
        evaluate: &Target<'_>,
        point: &Tensor<4>,
        images: Inputs<'_>,
        rng: &mut AttackRng,
        copy: InputTransform<'_>,
    ) -> Result<Evaluation> {
        match &self.diversity {
            None => evaluate(point, copy),
            Some(diversity) => {
                let placements = diversity.draw(images.shape, rng);
                let transform = move |x: Tensor<4>| {
                    let copied = match copy {
                        Some(copy) => copy(x),
                        None => x,
                    };
                    apply_all(&placements, copied)
                };
                evaluate(point, Some(&transform))
            }
        }
    }

    /// The estimated gradient at `x` (and the models' losses, averaged over the samples).
    /// `images` is the batch the models see (shaped like `x` for per-image attacks), `budget`
    /// the unit of the sampling boxes.
    pub(crate) fn estimate(
        &self,
        evaluate: &Target<'_>,
        x: &Tensor<4>,
        images: Inputs<'_>,
        budget: f64,
        rng: &mut AttackRng,
        state: &mut EstimatorState,
    ) -> Result<Evaluation> {
        if let Some(copies) = &self.copies {
            copies.check(images)?;
            if matches!(copies, Copies::Warp { .. }) && !images.per_image {
                return Err(Error::InvalidParameter {
                    name: "copies",
                    value: copies.count() as f64,
                    requirement: "DeCoWA's warps step on the attacked images' gradient: per-image attacks only",
                });
            }
        }
        let shape = x.dims();
        let device = x.device();
        let box_noise = |rng: &mut AttackRng, range: f64| {
            let half = (range * budget) as f32;
            x.clone() + rng.uniform(shape, -half, half, &device)
        };
        let mut evaluation = match self.sampling {
            None
            | Some(Sampling::Neighbourhood { range: 0.0, .. })
            | Some(Sampling::Spectrum { rho: 0.0, sigma: 0.0, .. }) => self.once(evaluate, x, images, rng)?,
            Some(Sampling::Neighbourhood { samples, range }) => {
                mean_of(samples, |_| self.once(evaluate, &box_noise(rng, range), images, rng))?
            }
            Some(Sampling::GradientNormPenalty { samples, range, step, balance }) => mean_of(samples, |_| {
                let near = box_noise(rng, range);
                let first = self.once(evaluate, &near, images, rng)?;
                let up = Normalization::MeanAbs.apply(first.gradient.clone()).mul_scalar((step * budget) as f32);
                let second = self.once(evaluate, &(near + up), images, rng)?;
                let gradient =
                    first.gradient.mul_scalar((1.0 - balance) as f32) + second.gradient.mul_scalar(balance as f32);
                Ok(Evaluation { gradient, ..first })
            })?,
            Some(Sampling::Spectrum { samples, rho, sigma }) => mean_of(samples, |_| {
                self.once(evaluate, &spectrum_sample(x, rho as f32, sigma as f32, rng), images, rng)
            })?,
            Some(Sampling::LinearLookAround { samples, range }) => {
                let direction = state.previous.take().map(|previous| Normalization::MeanAbs.apply(previous));
                let estimate = match direction {
                    Some(direction) if samples > 1 => mean_of(samples, |k| {
                        let c = range * (2.0 * k as f64 / (samples - 1) as f64 - 1.0);
                        self.once(
                            evaluate,
                            &(x.clone() + direction.clone().mul_scalar((c * budget) as f32)),
                            images,
                            rng,
                        )
                    })?,
                    _ => mean_of(samples, |_| self.once(evaluate, x, images, rng))?,
                };
                state.previous = Some(estimate.gradient.clone());
                estimate
            }
            Some(Sampling::Relevance { samples, range }) => {
                let here = self.once(evaluate, x, images, rng)?;
                let around = mean_of(samples, |_| self.once(evaluate, &box_noise(rng, range), images, rng))?.gradient;
                let relevance = cosine_per_image(&here.gradient, &around);
                let gradient = here.gradient.clone() * relevance.clone() + around * relevance.neg().add_scalar(1.0);
                Evaluation { gradient, ..here }
            }
            Some(Sampling::VarianceTuning { samples, range }) => {
                let mut here = self.once(evaluate, x, images, rng)?;
                let neighbourhood = if range == 0.0 {
                    here.gradient.clone()
                } else {
                    mean_of(samples, |_| self.once(evaluate, &box_noise(rng, range), images, rng))?.gradient
                };
                let gradient = here.gradient.clone();
                let previous = state.variance.replace(neighbourhood - gradient.clone());
                here.gradient = match previous {
                    Some(variance) => gradient + variance,
                    None => gradient,
                };
                here
            }
        };
        if let Some(smoothing) = &self.smoothing {
            evaluation.gradient = smoothing.apply(evaluation.gradient);
        }
        Ok(evaluation)
    }
}

/// DeCoWA's copy at `point` (the attacked images): per image, a warp of `spline` drawn at
/// random, then moved one step of `step` up the objective's gradient with respect to its
/// control points (the warp that most resists the attack), from the gradient at the warped
/// images (one evaluation; none when `step` is 0).
fn resisting_warp(
    spline: &Spline,
    evaluate: &Target<'_>,
    point: &Tensor<4>,
    images: Inputs<'_>,
    rng: &mut AttackRng,
    (noise_scale, step): (f64, f64),
) -> Result<DrawnCopy> {
    let (shape, device) = (images.shape, point.device());
    let mut offsets = spline.draw(shape[0], noise_scale, rng);
    if step == 0.0 {
        return Ok(DrawnCopy::Pixels(spline.map(shape, &offsets, &device)));
    }
    let warped = spline.map(shape, &offsets, &device).apply(point.clone());
    let gradient = evaluate(&warped, None)?.gradient;
    let slope = spline.offset_gradient(shape, &offsets, &host::to_vec(point.clone()), &host::to_vec(gradient));
    for (offset, slope) in offsets.iter_mut().zip(slope) {
        *offset += step * slope;
    }
    Ok(DrawnCopy::Pixels(spline.map(shape, &offsets, &device)))
}

/// The cosine between `a` and `b` per image (the first dimension), shaped `[N, 1, 1, 1]`; 0
/// where either is zero.
fn cosine_per_image(a: &Tensor<4>, b: &Tensor<4>) -> Tensor<4> {
    let dot = (a.clone() * b.clone()).sum_dims(&[1, 2, 3]);
    let norms = a.clone().square().sum_dims(&[1, 2, 3]) * b.clone().square().sum_dims(&[1, 2, 3]);
    dot / norms.clamp_min(1e-30).sqrt()
}

/// The mean gradient and the mean per-model losses of `count` (≥ 1) evaluations, evaluation
/// `k` being `evaluate(k)`, summed as they come (one evaluation held at a time).
fn mean_of(count: usize, mut evaluate: impl FnMut(usize) -> Result<Evaluation>) -> Result<Evaluation> {
    let mut total = evaluate(0)?;
    for k in 1..count {
        let evaluation = evaluate(k)?;
        total.gradient = total.gradient + evaluation.gradient;
        for ((_, sum), (_, loss)) in total.losses.iter_mut().zip(evaluation.losses) {
            *sum = sum.clone() + loss;
        }
    }
    let count = count as f32;
    total.gradient = total.gradient.div_scalar(count);
    for (_, sum) in total.losses.iter_mut() {
        *sum = sum.clone().div_scalar(count);
    }
    Ok(total)
}
