//! Writing your own optimizer and plugging it into any role of the Common Weakness Attack.
//!
//! `SignedRms` is a toy RMSProp-with-sign rule. It is used here as the inner (per-model)
//! optimizer and as the outer optimizer of an MI-CWA attack, on two tiny linear models.
//!
//! ```text
//! cargo run --release --example custom_optimizer
//! ```

use burn::tensor::Tensor;
use common_weakness::optim::Optimizer;
use common_weakness::prelude::*;
use common_weakness::surrogate::from_fn;

/// `v ← ρ·v + (1−ρ)·g²`, `update = −step_size · sign(g / √(v + 1e-12))`.
#[derive(Clone, Copy, Debug)]
struct SignedRms {
    step_size: f64,
    decay: f64,
}

impl Optimizer for SignedRms {
    // Optimizer state is an explicit value the attack owns for the whole run.
    type State = Tensor<4>;

    fn init(&self, like: &Tensor<4>) -> Tensor<4> {
        like.zeros_like()
    }

    fn step(&self, gradient: Tensor<4>, v: &mut Tensor<4>) -> Tensor<4> {
        let rho = self.decay as f32;
        *v = v.clone().mul_scalar(rho) + gradient.clone().square().mul_scalar(1.0 - rho);
        (gradient / v.clone().add_scalar(1e-12).sqrt()).sign().mul_scalar(-self.step_size as f32)
    }

    // Recorded with every run; without it the run log says `null` for this optimizer.
    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "signed_rms": { "step_size": self.step_size, "decay": self.decay } })
    }

    fn validate(&self) -> Result<()> {
        if self.step_size > 0.0 && (0.0..1.0).contains(&self.decay) {
            Ok(())
        } else {
            Err(Error::InvalidParameter {
                name: "decay",
                value: self.decay,
                requirement: "step_size > 0, decay in [0, 1)",
            })
        }
    }
}

fn linear(name: &'static str, weights: [[f32; 2]; 4]) -> Box<dyn common_weakness::surrogate::Surrogate> {
    Box::new(from_fn(name, move |x: Tensor<4>| {
        let w = Tensor::<2>::from_floats(weights, &x.device());
        x.flatten::<2>(1, 3).matmul(w).mul_scalar(10.0)
    }))
}

fn main() -> Result<()> {
    let ensemble = Ensemble::new(vec![
        linear("a", [[1.0, -1.0], [0.5, 0.0], [0.0, 1.0], [-1.0, 0.5]]),
        linear("b", [[0.8, -0.2], [0.1, 0.3], [-0.4, 1.0], [-0.5, 0.9]]),
    ])?;
    let images = Tensor::<4>::full([1, 1, 2, 2], 0.5, &Default::default());
    let objective = Objective::untargeted(vec![0]);
    let budget = 16.0 / 255.0;

    let attack = Cwa::mi_cwa(CwaConfig::paper(budget))
        .with_inner(SignedRms { step_size: budget / 2.0, decay: 0.9 })
        .with_outer(SignedRms { step_size: budget / 5.0, decay: 0.9 })
        .named("RMS-CWA");
    let outcome = attack.run_observed(&ensemble, images, &objective, &mut Progress::new(""))?;
    println!("objective per model: {:?} -> {:?}", outcome.initial_loss, outcome.final_loss);
    println!("attack configuration, as saved with the run:\n{}", serde_json::to_string_pretty(&outcome.info.config)?);
    Ok(())
}
