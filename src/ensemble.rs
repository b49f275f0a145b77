//! Ensembles of surrogate models.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::AttackRng;
use crate::surrogate::Surrogate;

/// Where the models of an ensemble are combined into one ensemble gradient.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// The order in which the CWA inner sweep visits the models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VisitOrder {
    /// The order in which the models were added (the authors' choice).
    #[default]
    Fixed,
    /// A fresh permutation every outer iteration, drawn from the attack's seed.
    Shuffled,
}

/// Ordered surrogate models with weights, a combination point and a visiting order.
///
/// Weights scale each model's share of the combined ensemble gradient (reverse step,
/// baselines). The CWA inner sweep visits every model once per iteration whatever its weight.
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use common_weakness::surrogate::from_fn;
/// use common_weakness::{Combination, Ensemble};
///
/// type B = Autodiff<NdArray>;
/// let a = from_fn("a", |x: Tensor<B, 4>| x.flatten(1, 3));
/// let b = from_fn("b", |x: Tensor<B, 4>| x.flatten(1, 3).neg());
/// let ensemble = Ensemble::new(vec![Box::new(a), Box::new(b)])
///     .unwrap()
///     .with_weights(vec![2.0, 1.0])
///     .unwrap()
///     .with_combination(Combination::LossMean);
/// assert_eq!(ensemble.names(), vec!["a", "b"]);
/// assert!(Ensemble::<B>::new(vec![]).is_err());
/// ```
pub struct Ensemble<B: Backend> {
    members: Vec<Box<dyn Surrogate<B>>>,
    weights: Vec<f64>,
    combination: Combination,
    order: VisitOrder,
}

impl<B: Backend> Ensemble<B> {
    /// An ensemble of `members` with equal weights, [`Combination::LogitMean`] and
    /// [`VisitOrder::Fixed`]. Fails on an empty list.
    pub fn new(members: Vec<Box<dyn Surrogate<B>>>) -> Result<Self> {
        if members.is_empty() {
            return Err(Error::EmptyEnsemble);
        }
        let weights = vec![1.0; members.len()];
        Ok(Self { members, weights, combination: Combination::default(), order: VisitOrder::default() })
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
            crate::error::non_negative("weight", w)?;
        }
        crate::error::positive("sum of weights", weights.iter().sum())?;
        self.weights = weights;
        Ok(self)
    }

    /// Sets where the models are combined.
    pub fn with_combination(mut self, combination: Combination) -> Self {
        self.combination = combination;
        self
    }

    /// Sets the inner-sweep visiting order.
    pub fn with_order(mut self, order: VisitOrder) -> Self {
        self.order = order;
        self
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
    pub fn members(&self) -> &[Box<dyn Surrogate<B>>] {
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

    /// The combination point.
    pub fn combination(&self) -> Combination {
        self.combination
    }

    /// The visiting order of the inner sweep.
    pub fn order(&self) -> VisitOrder {
        self.order
    }

    /// The model indices of one inner sweep.
    pub(crate) fn sweep(&self, rng: &mut AttackRng) -> Vec<usize> {
        match self.order {
            VisitOrder::Fixed => (0..self.len()).collect(),
            VisitOrder::Shuffled => rng.permutation(self.len()),
        }
    }
}
