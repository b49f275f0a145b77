//! MBA: a diagonal Gaussian posterior over a zoo model's weights, fitted to SGD snapshots,
//! one sample drawn per iteration.

use std::sync::{Mutex, PoisonError};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::Surrogate;

use super::ZooNet;
use crate::error::Result;

/// A zoo architecture with weights drawn from a diagonal Gaussian `N(μ, (s·σ)²)` fitted to
/// weight snapshots (SWAG-diagonal: `μ` and `σ²` their mean and variance per weight).
///
/// - **Paper**: Li et al., *Making Substitute Models More Bayesian Can Enhance Transferability
///   of Adversarial Examples*, ICLR 2023 (MBA).
/// - **Fit**: [`Posterior::fit`] on snapshots of an SGD run from the trained model, the same
///   run LGV collects (`crates/bench/examples/collect_lgv.rs`).
/// - **Draws**: one weight sample per model and iteration ([`Surrogate::forward_drawn`]),
///   `μ + s·σ ⊙ z`, `z ~ N(0, I)` from the draw, so seeded runs repeat and shards equal one
///   run. Evaluations ([`Surrogate::forward`]) use `μ`.
/// - **Defaults**: `s = 1.5` ([`Posterior::SCALE`], TransferAttack's noise factor).
///   TransferAttack draws 20 samples once and averages their logits at every pass (20 times
///   the passes); here each iteration sees one fresh sample, at one network's cost.
/// - **Cost**: one network's passes, plus one weight sample (one normal draw per weight) per
///   draw, kept for the draw's later passes; memory for `μ`, `σ` and the sample.
#[derive(Debug)]
pub struct Posterior<N> {
    name: String,
    mean: N,
    /// `s·σ` per parameter tensor, flattened, in the module's visiting order.
    deviations: Vec<Tensor<1>>,
    /// The last draw and its sample: an iteration's forward passes share one draw.
    last: Mutex<Option<(u64, N)>>,
}

impl<N: ZooNet> Posterior<N> {
    /// TransferAttack's factor on the posterior's standard deviation.
    pub const SCALE: f64 = 1.5;

    /// The posterior of `snapshots` (at least one) with its deviations scaled by `scale`
    /// (finite, ≥ 0). The mean and variance are accumulated in order (Welford), so identical
    /// snapshots give their weights exactly and a zero variance.
    pub fn fit(name: impl Into<String>, snapshots: Vec<N>, scale: f64) -> Result<Self> {
        common_weakness::check::non_negative("posterior scale", scale)?;
        let mut snapshots = snapshots.into_iter();
        let Some(first) = snapshots.next() else {
            return Err(common_weakness::Error::InvalidParameter {
                name: "posterior snapshots",
                value: 0.0,
                requirement: "at least one",
            }
            .into());
        };
        let mut mean = flattened(&first);
        let mut squares: Vec<Tensor<1>> = mean.iter().map(|m| m.zeros_like()).collect();
        let mut count = 1;
        for snapshot in snapshots {
            count += 1;
            for ((m, s), x) in mean.iter_mut().zip(squares.iter_mut()).zip(flattened(&snapshot)) {
                let before = m.clone();
                *m = before.clone() + (x.clone() - before.clone()).div_scalar(count as f32);
                *s = s.clone() + (x.clone() - before) * (x - m.clone());
            }
        }
        let deviations =
            squares.into_iter().map(|s| s.div_scalar(count as f32).sqrt().mul_scalar(scale as f32)).collect();
        let mean = replaced(first, &mut |index, _| mean[index].clone()).freeze();
        Ok(Self { name: name.into(), mean, deviations, last: Mutex::new(None) })
    }

    /// The weights of `draw`: `μ + s·σ ⊙ z`.
    pub fn sample(&self, draw: u64) -> N {
        let mut rng = AttackRng::new(draw);
        let deviations = &self.deviations;
        replaced(self.mean.clone(), &mut |index, mean: Tensor<1>| {
            let size = mean.dims()[0];
            let z = rng.normal([1, 1, 1, size], &mean.device()).reshape([size]);
            mean + deviations[index].clone() * z
        })
        .freeze()
    }
}

impl<N: ZooNet + Send + Sync> Surrogate for Posterior<N> {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.mean.forward(images)
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let network = match last.as_ref() {
            Some((drawn, network)) if *drawn == draw => network.clone(),
            _ => {
                let network = self.sample(draw);
                *last = Some((draw, network.clone()));
                network
            }
        };
        drop(last);
        network.forward(images)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// `module` with float parameter `i` (in visiting order, flattened) replaced by `value(i, it)`.
fn replaced<M: Module>(module: M, value: &mut dyn FnMut(usize, Tensor<1>) -> Tensor<1>) -> M {
    struct Replace<'a> {
        index: usize,
        value: &'a mut dyn FnMut(usize, Tensor<1>) -> Tensor<1>,
    }
    impl ModuleMapper for Replace<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let index = self.index;
            self.index += 1;
            param.map(|t| {
                let dims = t.dims();
                (self.value)(index, t.reshape([-1])).reshape(dims)
            })
        }
    }
    module.map(&mut Replace { index: 0, value })
}

/// Every float parameter of `module`, flattened, in visiting order.
fn flattened<M: Module>(module: &M) -> Vec<Tensor<1>> {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().detach().reshape([-1]));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}
