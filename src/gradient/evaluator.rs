//! Input gradients of the objective, per model and for the combined ensemble.
//!
//! An optional input transform (DI) is applied to the differentiated input before the models
//! see it, so the gradient flows through it.
//!
//! Each per-sample loss is **summed** over the batch before the backward pass, so every
//! image's gradient is independent of the batch it shares (the authors' batch-mean CE scales
//! gradients by 1/N; every update rule of the CWA family is invariant to that scale).

use burn::tensor::Tensor;

use crate::ensemble::{Combination, Ensemble};
use crate::error::{Error, Result};
use crate::objective::{label_lead, Goal, LossInput, Objective};
use crate::surrogate::draw_key;

/// What one model needs to evaluate the objective: its labels, its clean outputs and the
/// outputs the loss compares against (the clean ones, or those at the target images).
#[derive(Clone)]
struct Context {
    one_hot: Option<Tensor<2>>,
    clean: Tensor<2>,
    reference: Tensor<2>,
}

/// A differentiable transform of the images applied before the models (input diversity).
pub(crate) type InputTransform<'t> = Option<&'t dyn Fn(Tensor<4>) -> Tensor<4>>;

/// Evaluates one gradient target (a model, or the combined ensemble) at a point, through an
/// optional input transform.
pub(crate) type Target<'a> = dyn Fn(&Tensor<4>, InputTransform<'_>) -> Result<Evaluation> + 'a;

/// An input gradient with the per-sample losses of the models that produced it.
pub(crate) struct Evaluation {
    /// Gradient of the (summed) objective with respect to the images.
    pub gradient: Tensor<4>,
    /// The per-sample objective `[N]` that was differentiated (the model's own, or the
    /// combined ensemble objective).
    pub loss: Tensor<1>,
    /// `(model index, per-sample loss [N])` for each model evaluated.
    pub losses: Vec<(usize, Tensor<1>)>,
}

/// Evaluates the objective of an ensemble's models at arbitrary images. Cloning is cheap
/// (the clean outputs are shared tensors).
#[derive(Clone)]
pub(crate) struct Evaluator<'a> {
    ensemble: &'a Ensemble,
    objective: &'a Objective,
    combination: Combination,
    contexts: Vec<Context>,
    combined: Option<Context>,
    /// Per-image model weights `[N, models]` replacing the ensemble's for the combined
    /// objective (an ensemble weighting's, for one iteration).
    image_weights: Option<Tensor<2>>,
    /// The run's seed and iteration, which draw the models with random parts.
    draw: Option<(u64, usize)>,
}

impl<'a> Evaluator<'a> {
    /// The objective evaluated.
    pub fn objective(&self) -> &'a Objective {
        self.objective
    }

    /// The ensemble's weights, in model order.
    pub fn weights(&self) -> &[f64] {
        self.ensemble.weights()
    }

    /// Runs every model once on the clean images (and on the objective's target images, if
    /// any), checking output shapes, label ranges and (for logit combinations) equal output
    /// sizes.
    pub fn new(
        ensemble: &'a Ensemble,
        objective: &'a Objective,
        combination: Combination,
        clean: &Tensor<4>,
    ) -> Result<Self> {
        let shape = clean.dims();
        let device = clean.device();
        // `Objective::validate`, run before every evaluator, has checked the target count.
        let targets = objective.target_images();
        if let Some(targets) = targets {
            let [_, channels, height, width] = targets.dims();
            if [channels, height, width] != shape[1..] {
                return Err(Error::Shape {
                    what: "target images",
                    expected: format!(
                        "[1 or {}, {}, {}, {}] (the images' shape)",
                        shape[0], shape[1], shape[2], shape[3]
                    ),
                    actual: targets.dims().to_vec(),
                });
            }
        }
        let mut contexts = Vec::with_capacity(ensemble.len());
        for (index, member) in ensemble.members().iter().enumerate() {
            member.check_input(shape)?;
            let outputs = ensemble.forward(index, Tensor::from_inner(clean.clone())).detach();
            let dims = outputs.dims();
            if dims[0] != shape[0] || dims[1] == 0 {
                return Err(Error::ModelOutputShape {
                    model: member.name().to_string(),
                    images: shape[0],
                    actual: dims.to_vec(),
                });
            }
            objective.check_classes(member.name(), dims[1])?;
            let reference = match targets {
                None => outputs.clone(),
                Some(targets) => {
                    let reference = ensemble.forward(index, targets.clone()).detach();
                    let expected = [targets.dims()[0], dims[1]];
                    if reference.dims() != expected {
                        return Err(Error::ModelOutputShape {
                            model: member.name().to_string(),
                            images: expected[0],
                            actual: reference.dims().to_vec(),
                        });
                    }
                    reference.expand([shape[0], dims[1]])
                }
            };
            contexts.push(Context { one_hot: objective.one_hot(dims[1], &device), clean: outputs, reference });
        }
        let combined = match combination {
            Combination::LossMean => None,
            Combination::LogitMean | Combination::LogitSum => {
                let first = &contexts[0];
                let size = first.clean.dims()[1];
                for (member, context) in ensemble.members().iter().zip(&contexts) {
                    let actual = context.clean.dims()[1];
                    if actual != size {
                        return Err(Error::OutputMismatch {
                            first: ensemble.members()[0].name().to_string(),
                            expected: size,
                            model: member.name().to_string(),
                            actual,
                        });
                    }
                }
                let shares = shares(ensemble.weights(), None, combination);
                let combine = |part: fn(&Context) -> &Tensor<2>| {
                    combine_logits(&shares, contexts.iter().map(|c| part(c).clone()).collect())
                };
                let clean = combine(|c| &c.clean);
                let reference = match targets {
                    None => clean.clone(),
                    Some(_) => combine(|c| &c.reference),
                };
                Some(Context { one_hot: first.one_hot.clone(), clean, reference })
            }
        };
        Ok(Self { ensemble, objective, combination, contexts, combined, image_weights: None, draw: None })
    }

    /// Draws the models with random parts ([`Surrogate::forward_drawn`](crate::surrogate::Surrogate::forward_drawn))
    /// for iteration `iteration` of a run seeded with `seed`: every later forward pass sees
    /// model `i` as drawn by [`draw_key`]`(seed, iteration, i)`.
    pub fn set_draw(&mut self, seed: u64, iteration: usize) {
        self.draw = Some((seed, iteration));
    }

    /// Model `index`'s outputs at `images`, as drawn for the iteration.
    fn forward(&self, index: usize, images: Tensor<4>) -> Tensor<2> {
        let draw = self.draw.map(|(seed, iteration)| draw_key(seed, iteration, index));
        self.ensemble.forward_drawn(index, images, draw)
    }

    /// Weighs the models of the combined objective per image by `weights` (`[N, models]`,
    /// checked by the caller: finite, ≥ 0, each row with a positive sum), or by the
    /// ensemble's weights again (`None`). The combined clean and reference outputs are
    /// recombined with them.
    pub fn set_image_weights(&mut self, weights: Option<Tensor<2>>) {
        self.image_weights = weights;
        if let Some(combined) = &mut self.combined {
            let shares = shares(self.ensemble.weights(), self.image_weights.as_ref(), self.combination);
            let combine = |part: fn(&Context) -> &Tensor<2>| {
                combine_logits(&shares, self.contexts.iter().map(|c| part(c).clone()).collect())
            };
            combined.clean = combine(|c| &c.clean);
            combined.reference = combine(|c| &c.reference);
        }
    }

    /// Each model's factor in the combined objective now.
    fn shares(&self) -> Shares {
        shares(self.ensemble.weights(), self.image_weights.as_ref(), self.combination)
    }

    fn loss(&self, context: &Context, outputs: Tensor<2>) -> Result<Tensor<1>> {
        self.objective.per_sample(LossInput {
            outputs,
            one_hot: context.one_hot.clone(),
            reference_outputs: context.reference.clone(),
        })
    }

    /// Per-sample losses of every model at the clean images, from the outputs cached by
    /// [`Evaluator::new`] (no forward pass).
    pub fn clean_losses(&self) -> Result<Vec<(usize, Tensor<1>)>> {
        self.contexts.iter().enumerate().map(|(index, c)| Ok((index, self.loss(c, c.clean.clone())?.inner()))).collect()
    }

    /// Per image, whether every model is fooled at `x` by more than `margin` logits
    /// ([`EarlyStop`](crate::observe::EarlyStop)): untargeted, some other class beats the
    /// label by the margin; targeted, the label beats every other class by it. One forward
    /// pass per model, no backward.
    pub fn fooled(&self, x: &Tensor<4>, margin: f64) -> Result<Vec<bool>> {
        let mut fooled = vec![true; x.dims()[0]];
        for (index, context) in self.contexts.iter().enumerate() {
            let Some(one_hot) = &context.one_hot else {
                return Err(Error::InvalidObjective("early stopping needs labels"));
            };
            let outputs = self.forward(index, Tensor::from_inner(x.clone())).detach();
            let label = label_lead(outputs, one_hot);
            let lead = match self.objective.goal() {
                Goal::Untargeted => label.neg(),
                Goal::Targeted => label,
            };
            for (image, lead) in crate::host::to_vec(lead).into_iter().enumerate() {
                fooled[image] &= lead as f64 > margin;
            }
        }
        Ok(fooled)
    }

    /// Per-sample losses of every model at `x`, without gradients.
    pub fn losses(&self, x: &Tensor<4>) -> Result<Vec<(usize, Tensor<1>)>> {
        (0..self.ensemble.len()).map(|index| Ok((index, self.model_loss(index, x)?))).collect()
    }

    /// Per-sample loss of model `index` at `x`: one forward pass, no backward.
    pub fn model_loss(&self, index: usize, x: &Tensor<4>) -> Result<Tensor<1>> {
        let outputs = self.forward(index, Tensor::from_inner(x.clone())).detach();
        Ok(self.loss(&self.contexts[index], outputs)?.inner())
    }

    /// The gradient of model `index`'s objective at `x` (one forward and one backward pass).
    pub fn model(&self, index: usize, x: &Tensor<4>, transform: InputTransform<'_>) -> Result<Evaluation> {
        let input = Tensor::<4>::from_inner(x.clone()).require_grad();
        let seen = transform.map_or_else(|| input.clone(), |t| t(input.clone()));
        let outputs = self.forward(index, seen);
        let loss = self.loss(&self.contexts[index], outputs)?;
        let gradient = backward(&input, loss.clone());
        let loss = loss.detach().inner();
        Ok(Evaluation { gradient, loss: loss.clone(), losses: vec![(index, loss)] })
    }

    /// The gradient of model `index`'s objective of its outputs scaled per image by `scale`
    /// (`[N, 1]`; SMER's weights) at `x`: one forward and one backward pass.
    pub fn scaled_model(&self, index: usize, x: &Tensor<4>, scale: Tensor<2>) -> Result<Tensor<4>> {
        let input = Tensor::<4>::from_inner(x.clone()).require_grad();
        let outputs = self.forward(index, input.clone()) * scale.detach();
        Ok(backward(&input, self.loss(&self.contexts[index], outputs)?))
    }

    /// At `x`, per image, the gradient with respect to the weights `w` (`[N, models]`) of
    /// `log|L|`, `L` the combined objective of the weighted logits `Σ_i w_i·z_i / n`: `∇_w L /
    /// |L|`. One forward pass per model; needs a logit combination (equal output sizes).
    pub fn weights_gradient(&self, x: &Tensor<4>, weights: &Tensor<2>) -> Result<Tensor<2>> {
        let Some(context) = &self.combined else {
            return Err(Error::InvalidObjective("reweighing the models' logits needs a logit combination"));
        };
        let models = self.ensemble.len();
        let leaf = Tensor::<2>::from_inner(weights.clone()).require_grad();
        let combined = (0..models)
            .map(|i| {
                let outputs = self.forward(i, Tensor::from_inner(x.clone())).detach();
                outputs * leaf.clone().narrow(1, i, 1)
            })
            .reduce(|a, b| a + b)
            .expect("an ensemble has at least one model")
            .div_scalar(models as f32);
        let loss = self.loss(context, combined)?;
        let magnitude = loss.clone().detach().inner().abs().clamp_min(1e-12).unsqueeze_dim::<2>(1);
        Ok(gradient_of(&leaf, loss.sum()) / magnitude)
    }

    /// The gradient of the combined ensemble objective at `x`: a forward pass of every model
    /// and one backward pass through all of them, or model by model (see
    /// [`GradientMode`](crate::ensemble::GradientMode)).
    pub fn ensemble(&self, x: &Tensor<4>, transform: InputTransform<'_>) -> Result<Evaluation> {
        if self.ensemble.gradient_mode().per_model(self.combination, self.ensemble.len()) {
            return self.ensemble_per_model(x, transform);
        }
        let input = Tensor::<4>::from_inner(x.clone()).require_grad();
        let seen = transform.map_or_else(|| input.clone(), |t| t(input.clone()));
        let outputs: Vec<Tensor<2>> = (0..self.ensemble.len()).map(|i| self.forward(i, seen.clone())).collect();
        let mut losses = Vec::with_capacity(outputs.len());
        let root = match &self.combined {
            Some(context) => {
                for (index, (o, c)) in outputs.iter().zip(&self.contexts).enumerate() {
                    losses.push((index, self.loss(c, o.clone().detach())?.inner()));
                }
                let combined = combine_logits(&self.shares(), outputs);
                self.loss(context, combined)?
            }
            None => {
                let shares = self.shares();
                let mut root: Option<Tensor<1>> = None;
                for (index, (o, c)) in outputs.into_iter().zip(&self.contexts).enumerate() {
                    let loss = self.loss(c, o)?;
                    losses.push((index, loss.clone().detach().inner()));
                    let weighted = shares.loss(index, loss);
                    root = Some(match root {
                        Some(sum) => sum + weighted,
                        None => weighted,
                    });
                }
                root.expect("an ensemble has at least one model")
            }
        };
        Ok(Evaluation { gradient: backward(&input, root.clone()), loss: root.detach().inner(), losses })
    }

    /// [`Evaluator::ensemble`] one model's graph at a time. The models' gradients are taken at
    /// the transformed images and pulled back through the transform once at the end.
    fn ensemble_per_model(&self, x: &Tensor<4>, transform: InputTransform<'_>) -> Result<Evaluation> {
        let input = Tensor::<4>::from_inner(x.clone()).require_grad();
        let seen = transform.map(|t| t(input.clone()));
        let seen_values = seen.as_ref().map_or_else(|| x.clone(), |s| s.clone().inner());
        let models = self.ensemble.len();
        let shares = self.shares();
        let mut losses = Vec::with_capacity(models);
        let mut gradient: Option<Tensor<4>> = None;
        let mut add = |g: Tensor<4>| {
            gradient = Some(match gradient.take() {
                Some(sum) => sum + g,
                None => g,
            })
        };
        // Each model's share of the root's gradient, as a function of its outputs.
        let root = match &self.combined {
            Some(context) => {
                let mut outputs = Vec::with_capacity(models);
                for (index, c) in self.contexts.iter().enumerate() {
                    let output = self.forward(index, Tensor::from_inner(seen_values.clone())).detach();
                    losses.push((index, self.loss(c, output.clone())?.inner()));
                    outputs.push(output);
                }
                let combined = combine_logits(&shares, outputs).require_grad();
                let root = self.loss(context, combined.clone())?;
                let upstream = gradient_of(&combined, root.clone().sum());
                for index in 0..models {
                    let leaf = Tensor::<4>::from_inner(seen_values.clone()).require_grad();
                    let upstream = Tensor::from_inner(shares.logits(index, upstream.clone()));
                    add(backward(&leaf, (self.forward(index, leaf.clone()) * upstream).sum_dim(1).squeeze_dim(1)));
                }
                root.detach().inner()
            }
            None => {
                let mut root: Option<Tensor<1>> = None;
                for (index, c) in self.contexts.iter().enumerate() {
                    let leaf = Tensor::<4>::from_inner(seen_values.clone()).require_grad();
                    let loss = self.loss(c, self.forward(index, leaf.clone()))?;
                    losses.push((index, loss.clone().detach().inner()));
                    let weighted = shares.loss(index, loss);
                    root = Some(match root {
                        Some(sum) => sum + weighted.clone().detach().inner(),
                        None => weighted.clone().detach().inner(),
                    });
                    add(backward(&leaf, weighted));
                }
                root.expect("an ensemble has at least one model")
            }
        };
        let gradient = gradient.expect("an ensemble has at least one model");
        let gradient = match seen {
            Some(seen) => {
                backward(&input, (seen * Tensor::from_inner(gradient)).sum_dim(3).sum_dim(2).sum_dim(1).flatten(0, 3))
            }
            None => gradient,
        };
        Ok(Evaluation { gradient, loss: root, losses })
    }
}

/// Each model's factor in the combined objective: one number per model (the ensemble's
/// weights), or one per image and model (an ensemble weighting's).
enum Shares {
    Fixed(Vec<f32>),
    /// Per model, its factor for each image, `[N, 1]`.
    PerImage(Vec<Tensor<2>>),
}

impl Shares {
    /// Model `index`'s outputs `[N, K]` scaled by its share.
    fn logits(&self, index: usize, outputs: Tensor<2>) -> Tensor<2> {
        match self {
            Shares::Fixed(shares) => outputs.mul_scalar(shares[index]),
            Shares::PerImage(shares) => outputs * shares[index].clone(),
        }
    }

    /// Model `index`'s per-sample loss `[N]` scaled by its share.
    fn loss(&self, index: usize, loss: Tensor<1>) -> Tensor<1> {
        match self {
            Shares::Fixed(shares) => loss.mul_scalar(shares[index]),
            Shares::PerImage(shares) => loss * shares[index].clone().flatten(0, 1),
        }
    }
}

/// The shares of `weights` (per model) or of `image_weights` (`[N, models]`, which replace
/// them): each weight over the sum of weights for the means, the weight itself for the logit
/// sum.
fn shares(weights: &[f64], image_weights: Option<&Tensor<2>>, combination: Combination) -> Shares {
    match image_weights {
        None => {
            let total: f64 = match combination {
                Combination::LogitMean | Combination::LossMean => weights.iter().sum(),
                Combination::LogitSum => 1.0,
            };
            Shares::Fixed(weights.iter().map(|w| (w / total) as f32).collect())
        }
        Some(image_weights) => {
            let image_weights = image_weights.clone().detach();
            let normalised = match combination {
                Combination::LogitMean | Combination::LossMean => image_weights.clone() / image_weights.sum_dim(1),
                Combination::LogitSum => image_weights,
            };
            let models = normalised.dims()[1];
            Shares::PerImage((0..models).map(|i| normalised.clone().narrow(1, i, 1)).collect())
        }
    }
}

/// The outputs scaled by their shares, summed.
fn combine_logits(shares: &Shares, outputs: Vec<Tensor<2>>) -> Tensor<2> {
    outputs
        .into_iter()
        .enumerate()
        .map(|(index, o)| shares.logits(index, o))
        .reduce(|a, b| a + b)
        .expect("an ensemble has at least one model")
}

/// Backward pass of the summed per-sample loss; a loss that does not depend on the input
/// has a zero gradient.
fn backward(input: &Tensor<4>, loss: Tensor<1>) -> Tensor<4> {
    gradient_of(input, loss.sum())
}

/// The gradient of the scalar `loss` with respect to `input` (a leaf that requires one), zero
/// where the loss does not depend on it. Burn 0.22 panics on the backward pass of a tensor
/// that recorded no graph (a constant model, a loss of no input), so that case is answered
/// before it.
pub(crate) fn gradient_of<const D: usize>(input: &Tensor<D>, loss: Tensor<1>) -> Tensor<D> {
    let zero = || input.clone().inner().zeros_like();
    if !loss.is_tracked() {
        return zero();
    }
    input.grad(&loss.backward()).unwrap_or_else(zero)
}
