//! Writing your own attack on the crate's engine and running it like a built-in one.
//!
//! `CosineMomentum` is a toy iterative attack: MI-FGSM momentum whose step size follows a
//! cosine schedule, its gradients estimated through input diversity (DI). It implements
//! [`Iterate`] with public items only, and then runs per image (any batch or shard gives
//! each image the same result), over a dataset with checkpoints and a time limit, and as a
//! universal perturbation.
//!
//! ```text
//! cargo run --release --example custom_attack
//! ```

use std::time::Duration;

use burn::tensor::Tensor;
use common_weakness::attack::{Checkpoints, Executor, Iterate, Of, Plan, Run};
use common_weakness::gradient::EstimatorState;
use common_weakness::prelude::*;
use common_weakness::universal::{Batch, Universal, UniversalVariable};
use common_weakness::Stage;

/// `m ← μ·m + g/‖g‖₁`, `x ← project(x − α_t·sign(m))`, `α_t = ε·(1 + cos(π·(t−1)/T))/T`.
struct CosineMomentum {
    threat: ThreatModel,
    iterations: usize,
    momentum: f64,
    gradient: GradientEstimator,
    seed: u64,
}

impl Iterate for CosineMomentum {
    // The momentum and the estimator's memory; tuples of tensors and states save themselves.
    type State = (Tensor<4>, EstimatorState);

    fn plan(&self) -> Plan<'_> {
        Plan {
            name: "cosine-MI",
            threat: self.threat,
            iterations: self.iterations,
            seed: self.seed,
            combination: Combination::default(),
            random_start: false,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "cosine_mi": { "iterations": self.iterations, "momentum": self.momentum } })
    }

    fn validate(&self) -> Result<()> {
        common_weakness::check::non_negative("momentum", self.momentum)?;
        self.gradient.validate()
    }

    fn init(&self, _run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        (x.zeros_like(), EstimatorState::default())
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>> {
        let (momentum, memory) = state;
        let gradient = run.gradient(&self.gradient, Of::Ensemble, &x, memory)?;
        let t = (run.iteration() - 1) as f64 / self.iterations as f64;
        let size = self.threat.budget * (1.0 + (std::f64::consts::PI * t).cos()) / self.iterations as f64;
        run.step(Stage::Outer, x, gradient, |g| {
            let l1 = g.clone().abs().mean_dims(&[1, 2, 3]).add_scalar(1e-12);
            *momentum = momentum.clone().mul_scalar(self.momentum) + g / l1;
            momentum.clone().sign().mul_scalar(-size)
        })
    }
}

fn brightness(name: &'static str, weights: [f32; 3]) -> Box<dyn Surrogate> {
    Box::new(from_fn(name, move |x: Tensor<4>| {
        let device = x.device();
        let m = x.mean_dims(&[2, 3]).reshape([-1, 3]);
        let w = Tensor::<2>::from_floats([weights, [-weights[2], weights[0], -weights[1]]], &device);
        m.matmul(w.transpose()).mul_scalar(8.0)
    }))
}

fn main() -> Result<()> {
    let device = Default::default();
    let ensemble = Ensemble::new(vec![brightness("a", [1.0, -0.5, 0.2]), brightness("b", [0.6, -0.9, 0.4])])?;
    let attack = CosineMomentum {
        threat: ThreatModel::linf(16.0 / 255.0),
        iterations: 10,
        momentum: 1.0,
        gradient: GradientEstimator::default().with_diversity(InputDiversity::resize_pad()),
        seed: 7,
    };
    let batches: Vec<Batch> = (0..4)
        .map(|i| {
            let images = common_weakness::rng::AttackRng::new(i).uniform([4, 3, 16, 16], 0.0, 1.0, &device);
            Batch::labelled(images, vec![0; 4])
        })
        .collect();
    let objective = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());

    // Per image, like any built-in attack.
    let one =
        attack.run_observed(&ensemble, batches[0].images.clone(), &objective(&batches[0]), &mut Progress::new(""))?;
    println!("batch 0, objective per model: {:?} -> {:?}", one.initial_loss, one.final_loss);

    // Over the dataset, checkpointed after every batch and stopped after at most a minute;
    // run it again and it resumes where it stopped.
    let path = std::env::temp_dir().join("common-weakness-custom-attack.json");
    let _ = std::fs::remove_file(&path);
    let dataset = Executor::new()
        .with_checkpoints(Checkpoints { path: path.clone(), every: 1 })
        .with_time_limit(Duration::from_secs(60))
        .per_image(&attack, &ensemble, &batches, &objective)?;
    std::fs::remove_file(&path)?;
    println!(
        "dataset: {} batches, {:?}; batch 0 again: {:?}",
        dataset.batches.len(),
        dataset.stop,
        dataset.batches[0].final_loss
    );

    // A universal perturbation: one step of the attack per batch, three epochs.
    let universal =
        Universal::new(UniversalVariable::Perturbation, 3).train(&attack, &ensemble, &batches, &objective)?;
    println!("universal perturbation, mean objective per epoch: {:?}", universal.epoch_losses);
    Ok(())
}
