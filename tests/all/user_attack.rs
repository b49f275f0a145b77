//! An attack written outside the crate, with its public items only, gets what the crate's
//! attacks get: estimated gradients, checked and projected steps, per-image seeding (shards
//! equal one run), records, dataset and universal runs, checkpoints that resume bit for bit.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Tensor;
use common_weakness::attack::{Attack, Checkpoints, Executor, Iterate, Of, Plan, Run};
use common_weakness::gradient::EstimatorState;
use common_weakness::observe::{Silent, StopReason};
use common_weakness::prelude::*;
use common_weakness::universal::{Batch, Universal, UniversalVariable};
use common_weakness::Stage;

use crate::common::{images, mlp_ensemble, values, StopAfter};

/// Steps along a heavy-ball average of DI gradients, each image's step scaled by its mean
/// absolute value (not a sign step, so that every draw shows in the result).
struct HeavyBall {
    threat: ThreatModel,
    iterations: usize,
    seed: u64,
    /// How often the run record's configuration was written.
    configs_written: AtomicUsize,
}

impl Iterate for HeavyBall {
    type State = (Tensor<4>, EstimatorState);

    fn plan(&self) -> Plan<'_> {
        Plan {
            name: "heavy ball",
            threat: self.threat,
            iterations: self.iterations,
            seed: self.seed,
            combination: Combination::LossMean,
            random_start: false,
        }
    }

    fn config(&self) -> serde_json::Value {
        self.configs_written.fetch_add(1, Ordering::Relaxed);
        serde_json::json!({ "heavy_ball": { "iterations": self.iterations } })
    }

    fn validate(&self) -> Result<()> {
        common_weakness::check::at_least_one("iterations", self.iterations)
    }

    fn init(&self, _run: &Run<'_>, x: &Tensor<4>) -> Self::State {
        (x.zeros_like(), EstimatorState::default())
    }

    fn iterate(&self, run: &mut Run<'_>, state: &mut Self::State, x: Tensor<4>) -> Result<Tensor<4>> {
        let di = GradientEstimator::default().with_diversity(InputDiversity::resize_pad());
        let gradient = run.gradient(&di, Of::Ensemble, &x, &mut state.1)?;
        let size = 2.0 * self.threat.budget / self.iterations as f64;
        run.step(Stage::Outer, x, gradient, |g| {
            state.0 = state.0.clone().mul_scalar(0.5) + g;
            let scale = state.0.clone().abs().mean_dims(&[1, 2, 3]).add_scalar(1e-12);
            (state.0.clone() / scale).mul_scalar(-size)
        })
    }
}

fn attack() -> HeavyBall {
    HeavyBall { threat: ThreatModel::linf(0.1), iterations: 4, seed: 11, configs_written: AtomicUsize::new(0) }
}

#[test]
fn a_users_attack_is_seeded_per_image_checked_and_projected() {
    // 32 × 32 images, large enough for input diversity to resize and pad them.
    let ensemble = mlp_ensemble(2, 32 * 32, 3);
    let x = images(3, [4, 1, 32, 32], 0.0, 1.0);
    let labels = vec![0, 1, 2, 0];
    let heavy_ball = attack();
    assert_eq!(heavy_ball.name(), "heavy ball");
    let whole = heavy_ball.run(&ensemble, x.clone(), &Objective::untargeted(labels.clone())).unwrap();
    assert_eq!(
        heavy_ball.configs_written.load(Ordering::Relaxed),
        1,
        "the config is written once per run, not per name"
    );
    assert_eq!(whole.info.config, serde_json::json!({ "heavy_ball": { "iterations": 4 } }));
    assert_eq!(whole.records.len(), 4);
    assert!(whole.final_loss.iter().zip(&whole.initial_loss).all(|(f, i)| f < i), "{whole:?}");
    let delta = values((whole.adversarial.clone() - x.clone()).abs().max())[0];
    assert!(delta <= 0.1 + 1e-6 && delta > 0.05, "L∞ {delta}");
    assert!(values(whole.adversarial.clone()).iter().all(|v| (0.0..=1.0).contains(v)));
    // Images 2 and 3 alone, with their indices: the same DI draws, the same examples.
    let shard = attack()
        .run_indexed(
            &ensemble,
            x.clone().narrow(0, 2, 2),
            &Objective::untargeted(labels[2..].to_vec()),
            &[2, 3],
            &mut Silent,
        )
        .unwrap();
    assert_eq!(values(shard.adversarial), values(whole.adversarial.clone().narrow(0, 2, 2)));
    // Another seed draws other transformations.
    let other = HeavyBall { seed: 12, ..attack() }.run(&ensemble, x, &Objective::untargeted(labels)).unwrap();
    assert_ne!(values(other.adversarial), values(whole.adversarial));

    // A gradient that is not finite never becomes a step: √x at 0 has an infinite slope.
    let root = from_fn("root", |x: Tensor<4>| {
        let s = x.sqrt().sum_dims(&[1, 2, 3]).reshape([-1, 1]);
        Tensor::cat(vec![s.clone(), s.neg()], 1)
    });
    let ensemble = Ensemble::new(vec![Box::new(root)]).unwrap();
    let zeros = Tensor::<4>::zeros([1, 1, 4, 4], &crate::common::device());
    let error =
        HeavyBall { iterations: 2, ..attack() }.run(&ensemble, zeros, &Objective::untargeted(vec![0])).map(|o| o.stop);
    assert!(matches!(error, Err(Error::NonFiniteStep { stage: Stage::Outer, .. })), "{error:?}");
}

#[test]
fn a_users_attack_runs_over_datasets_and_universally_and_resumes_bit_for_bit() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches: Vec<Batch> =
        (0..3).map(|i| Batch::labelled(images(30 + i, [2, 1, 4, 4], 0.2, 0.8), vec![0, 1])).collect();
    let objective = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());
    let path = std::env::temp_dir().join(format!("cw-user-attack-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let checkpoints = Checkpoints { path: path.clone(), every: 1 };

    let whole = Executor::new().per_image(&attack(), &ensemble, &batches, &objective).unwrap();
    let mut stop = StopAfter::new(6);
    let stopped = Executor::observed(&mut stop)
        .with_checkpoints(checkpoints.clone())
        .per_image(&attack(), &ensemble, &batches, &objective)
        .unwrap();
    assert_eq!(stopped.stop, StopReason::Observer { iteration: 2 });
    let resumed = Executor::new()
        .with_checkpoints(checkpoints.clone())
        .per_image(&attack(), &ensemble, &batches, &objective)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(values(resumed.adversarial()), values(whole.adversarial()));

    let universal = Universal::new(UniversalVariable::Perturbation, 3);
    let trained = universal.train(&attack(), &ensemble, &batches, &objective).unwrap();
    assert_eq!(trained.records.len(), 9);
    assert!(trained.epoch_losses[2] < trained.epoch_losses[0], "{:?}", trained.epoch_losses);
    let mut stop = StopAfter::new(4);
    Executor::observed(&mut stop)
        .with_checkpoints(checkpoints.clone())
        .universal(&universal, &attack(), &ensemble, &batches, &objective)
        .unwrap();
    let resumed = Executor::new()
        .with_checkpoints(checkpoints)
        .universal(&universal, &attack(), &ensemble, &batches, &objective)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(values(resumed.variable), values(trained.variable));
    assert_eq!(resumed.epoch_losses, trained.epoch_losses);
}
