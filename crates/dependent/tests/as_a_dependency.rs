//! The library as a crate that depends on it uses it: the README's dependency lines (see
//! `Cargo.toml`), the public API only. A user's own Burn CNN with a plain `BatchNorm`,
//! wrapped unchanged; CWA composed by hand from `LoopSettings::new` with a custom outer
//! optimizer; a JSON spec giving only its threat model, built by the registry into a
//! `Box<dyn Attack>` that runs over a dataset (checkpointed) and trains a universal
//! perturbation; the ensemble's predictions and accuracy.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use common_weakness::attack::{AttackSpec, Checkpoints, Executor, LoopSettings};
use common_weakness::backend::BackendKind;
use common_weakness::optim::{Momentum, Optimizer, Sgd};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::check_batch_independence;
use common_weakness::universal::{Batch, Universal, UniversalVariable};

/// A user's model: convolution, batch norm, global average pooling, linear head.
#[derive(Module, Debug)]
struct SmallCnn {
    conv: Conv2d,
    norm: BatchNorm,
    head: Linear,
}

impl SmallCnn {
    fn new(device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([1, 4], [3, 3]).init(device),
            norm: BatchNormConfig::new(4).init(device),
            head: LinearConfig::new(4, 3).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let features = self.norm.forward(self.conv.forward(x));
        let features = burn::tensor::activation::relu(features).mean_dims(&[2, 3]);
        self.head.forward(features.flatten(1, 3))
    }
}

/// A user's optimizer: a sign step of a fixed size.
struct SignStep(f64);

impl Optimizer for SignStep {
    type State = ();
    fn init(&self, _like: &Tensor<4>) {}
    fn step(&self, gradient: Tensor<4>, _state: &mut ()) -> Tensor<4> {
        gradient.sign().mul_scalar(-self.0)
    }
}

fn device() -> Device {
    BackendKind::default().device().unwrap()
}

fn ensemble() -> Ensemble {
    let device = device();
    let models: Vec<Box<dyn Surrogate>> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let model = from_module(name, SmallCnn::new(&device), |m: &SmallCnn, x| m.forward(x));
            Box::new(model) as Box<dyn Surrogate>
        })
        .collect();
    Ensemble::new(models).unwrap()
}

fn images(n: usize) -> Tensor<4> {
    AttackRng::new(7).uniform([n, 1, 6, 6], 0.1, 0.9, &device())
}

fn labels(batch: &Batch) -> Objective {
    Objective::untargeted(batch.labels.clone().unwrap())
}

#[test]
fn a_users_batch_norm_cnn_is_attacked_image_by_image_by_cwa_composed_by_hand() {
    let ensemble = ensemble();
    let x = images(4);
    for model in ensemble.members() {
        check_batch_independence(model.as_ref(), x.clone(), 1e-5).unwrap();
    }
    let threat = ThreatModel::linf(0.1);
    let attack = Cwa {
        name: "my CWA".to_string(),
        settings: LoopSettings { iterations: 5, ..LoopSettings::new(threat) },
        reverse: Some(Sgd::sign(0.1 / 15.0)),
        inner: Some(Momentum::cwa_inner(50.0, 1.0)),
        outer: SignStep(0.1 / 5.0),
    };
    let label_list = ensemble.predictions(x.clone()).unwrap()[0].clone();
    let objective = Objective::untargeted(label_list.clone());
    let whole = attack.run(&ensemble, x.clone(), &objective).unwrap();
    let perturbation: Vec<f32> = (whole.adversarial.clone() - x.clone()).abs().into_data().try_to_vec::<f32>().unwrap();
    assert!(perturbation.iter().all(|&d| d <= 0.1 + 1e-6));
    // Clean, model "a" agrees with the labels; the attack lowers its accuracy or keeps it.
    assert_eq!(ensemble.accuracy(x.clone(), &label_list).unwrap()[0], 1.0);
    assert!(ensemble.accuracy(whole.adversarial.clone(), &label_list).unwrap()[0] <= 1.0);
    assert!(whole.final_loss.iter().zip(&whole.initial_loss).all(|(after, before)| after <= before));
    // Image 2 attacked alone gets the example it got in the batch.
    let alone = attack
        .run_indexed(
            &ensemble,
            x.clone().narrow(0, 2, 1),
            &Objective::untargeted(vec![label_list[2]]),
            &[2],
            &mut Silent,
        )
        .unwrap();
    let batched: Vec<f32> = whole.adversarial.narrow(0, 2, 1).into_data().try_to_vec::<f32>().unwrap();
    let lone: Vec<f32> = alone.adversarial.into_data().try_to_vec::<f32>().unwrap();
    assert!(batched.iter().zip(&lone).all(|(a, b)| (a - b).abs() <= 1e-5));
}

#[test]
fn a_spec_with_only_its_threat_model_runs_over_a_dataset_and_universally() {
    let ensemble = ensemble();
    let batches: Vec<Batch> = (0..2).map(|_| Batch::labelled(images(2), vec![0, 1])).collect();
    let spec: AttackSpec =
        serde_json::from_str(r#"{"attack": "mi-cwa", "threat": {"norm": "Linf", "budget": 0.1}, "iterations": 3}"#)
            .unwrap();
    let attack: Box<dyn Attack> = spec.build();
    let path = std::env::temp_dir().join(format!("cw-dependent-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let executor = || Executor::new().with_checkpoints(Checkpoints { path: path.clone(), every: 1 });
    let first = attack.run_dataset(executor(), &ensemble, &batches, &labels).unwrap();
    assert_eq!(first.batches.len(), 2);
    assert!(first.batches.iter().all(|b| b.records.len() == 3));
    // The finished checkpoint gives the same images back.
    let again = attack.run_dataset(executor(), &ensemble, &batches, &labels).unwrap();
    let (a, b): (Vec<f32>, Vec<f32>) = (
        first.adversarial().into_data().try_to_vec::<f32>().unwrap(),
        again.adversarial().into_data().try_to_vec::<f32>().unwrap(),
    );
    assert_eq!(a, b);
    std::fs::remove_file(&path).unwrap();

    let universal = Universal::new(UniversalVariable::Perturbation, 2);
    let trained = attack.train_universal(Executor::new(), &universal, &ensemble, &batches, &labels).unwrap();
    assert_eq!(trained.variable.dims(), [1, 1, 6, 6]);
    assert_eq!(trained.epoch_losses.len(), 2);
}
