//! Shared test fixtures: the test backend and analytic surrogates.

use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::ensemble::Ensemble;
use common_weakness::objective::LossInput;
use common_weakness::objective::Objective;
use common_weakness::observe::{Control, IterationRecord, Observer};
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_fn, Surrogate};

/// The device every CPU test runs on: burn-flex, the default backend, with autodiff. Its
/// kernels are compiled, optimised, inside burn-flex, so the tests run fast without optimising
/// the test code itself (the build budget in docs/architecture.md).
pub fn device() -> Device {
    Device::flex().autodiff()
}

pub fn tensor4(values: Vec<f32>, shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, shape), &device())
}

pub fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Images with pixels uniform in [low, high).
pub fn images(seed: u64, shape: [usize; 4], low: f32, high: f32) -> Tensor<4> {
    AttackRng::new(seed).uniform(shape, low, high, &device())
}

fn gaussian(rng: &mut AttackRng, rows: usize, cols: usize, scale: f32) -> Tensor<2> {
    let t = rng.normal([1, 1, rows, cols], &device()).reshape([rows, cols]);
    t.mul_scalar(scale)
}

/// A fixed random tanh MLP: D inputs → hidden → classes.
pub fn mlp(name: &str, seed: u64, inputs: usize, hidden: usize, classes: usize) -> Box<dyn Surrogate> {
    let mut rng = AttackRng::new(seed);
    let w1 = gaussian(&mut rng, inputs, hidden, 2.0 / (inputs as f32).sqrt());
    let w2 = gaussian(&mut rng, hidden, classes, 2.0 / (hidden as f32).sqrt());
    let b1 = gaussian(&mut rng, 1, hidden, 0.5);
    Box::new(from_fn(name.to_string(), move |x: Tensor<4>| {
        (x.flatten::<2>(1, 3).matmul(w1.clone()) + b1.clone()).tanh().matmul(w2.clone()).mul_scalar(3.0)
    }))
}

/// An ensemble of `n` random MLPs over `inputs` pixels and `classes` classes.
pub fn mlp_ensemble(n: usize, inputs: usize, classes: usize) -> Ensemble {
    let members = (0..n).map(|i| mlp(&format!("mlp{i}"), 100 + i as u64, inputs, 8, classes)).collect();
    Ensemble::new(members).unwrap()
}

/// A linear "model" with one output, `x · w`.
pub fn linear(name: &str, weights: Vec<f32>) -> Box<dyn Surrogate> {
    let d = weights.len();
    let w = Tensor::<2>::from_data(TensorData::new(weights, [d, 1]), &device());
    Box::new(from_fn(name.to_string(), move |x: Tensor<4>| x.flatten::<2>(1, 3).matmul(w.clone())))
}

/// Two classes with logits `[x·w, 0]` over `w.len()` pixels: the cross-entropy of class 0 is
/// `ln(1 + e^{−x·w})`.
pub fn two_class(name: &str, w: &[f32]) -> Box<dyn Surrogate> {
    let d = w.len();
    let w = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [d, 1]), &device());
    Box::new(from_fn(name.to_string(), move |x: Tensor<4>| {
        let s = x.flatten::<2>(1, 3).matmul(w.clone());
        Tensor::cat(vec![s.clone(), s.zeros_like()], 1)
    }))
}

/// Minimise each image's (only) output: with [`linear`] models the gradient is `w`.
pub fn minimise_output() -> Objective {
    Objective::custom(None, |input: LossInput| input.outputs.sum_dim(1).squeeze_dim(1))
}

/// An observer that stops the run after it has seen `stop` iterations in all (0: never), and
/// counts the iterations it saw.
pub struct StopAfter {
    pub stop: usize,
    pub seen: usize,
}

impl StopAfter {
    pub fn new(stop: usize) -> Self {
        Self { stop, seen: 0 }
    }
}

impl Observer for StopAfter {
    fn observe(&mut self, _record: &IterationRecord) -> Control {
        self.seen += 1;
        match self.seen == self.stop {
            true => Control::Stop,
            false => Control::Continue,
        }
    }
}

/// The error of training `attack` as a universal perturbation over one batch of `images` with
/// `labels` (for attacks that refuse universal runs).
pub fn universal_error<A: common_weakness::attack::Iterate>(
    attack: &A,
    ensemble: &Ensemble,
    images: Tensor<4>,
    labels: Vec<usize>,
) -> String {
    use common_weakness::universal::{Batch, Universal, UniversalVariable};
    let objective = Objective::untargeted(labels.clone());
    let batches = vec![Batch::labelled(images, labels)];
    match Universal::new(UniversalVariable::Perturbation, 1).train(attack, ensemble, &batches, &|_| objective.clone()) {
        Ok(_) => panic!("the universal run was accepted"),
        Err(error) => error.to_string(),
    }
}
