//! Per-image early stopping: each image keeps the first iterate that fools every surrogate.

use burn::tensor::Tensor;
use common_weakness::attack::{Attack, Checkpoints, Executor, LoopSettings};
use common_weakness::observe::EarlyStop;
use common_weakness::optim::Sgd;
use common_weakness::prelude::*;
use common_weakness::universal::{Batch, Universal, UniversalVariable};

use super::common::{images, mlp_ensemble, values, StopAfter};

const MARGIN: f64 = 2.0;

/// Signed steps of a fixed size, so that a shorter run is a prefix of a longer one.
fn fixed_steps(iterations: usize) -> Cwa<Sgd, Sgd, Sgd> {
    let threat = ThreatModel::linf(0.15);
    Cwa {
        name: "fixed steps".into(),
        settings: LoopSettings { iterations, ..LoopSettings::new(threat) },
        reverse: None,
        inner: None,
        outer: Sgd::steepest(0.01, threat.steepest()),
    }
}

/// Five images labelled with the first model's predictions, so none starts out fooling it.
fn batch(ensemble: &Ensemble) -> Vec<Batch> {
    let x = images(60, [5, 3, 4, 4], 0.2, 0.8);
    let labels = ensemble.predictions(x.clone()).unwrap().remove(0);
    vec![Batch::labelled(x, labels)]
}

fn untargeted(batch: &Batch) -> Objective {
    Objective::untargeted(batch.labels.clone().unwrap())
}

fn stopping() -> Executor<'static> {
    Executor::new().with_early_stop(EarlyStop { margin: MARGIN })
}

/// Per image of `x`, the smallest lead of another class over the label across the models.
fn smallest_lead(ensemble: &Ensemble, x: &Tensor<4>, labels: &[usize]) -> Vec<f32> {
    let mut lead = vec![f32::INFINITY; labels.len()];
    for model in ensemble.members() {
        let logits = values(model.forward(x.clone()));
        let classes = logits.len() / labels.len();
        for (image, row) in logits.chunks(classes).enumerate() {
            let best_other = row.iter().enumerate().filter(|(k, _)| *k != labels[image]).map(|(_, v)| *v);
            lead[image] = lead[image].min(best_other.fold(f32::NEG_INFINITY, f32::max) - row[labels[image]]);
        }
    }
    lead
}

#[test]
fn a_stopped_image_keeps_the_iterate_of_its_stop_and_fools_every_surrogate_by_the_margin() {
    let ensemble = mlp_ensemble(2, 48, 4);
    let batches = batch(&ensemble);
    let labels = batches[0].labels.clone().unwrap();
    let (iterations, clean) = (15, batches[0].images.clone());
    let outcome = fixed_steps(iterations).run_dataset(stopping(), &ensemble, &batches, &untargeted).unwrap();
    let outcome = &outcome.batches[0];
    let plain = fixed_steps(iterations).run(&ensemble, clean.clone(), &Objective::untargeted(labels.clone())).unwrap();
    let stops = &outcome.stopped_at;
    assert!(stops.iter().any(Option::is_some) && stops.iter().any(Option::is_none), "{stops:?}");
    let leads = smallest_lead(&ensemble, &outcome.adversarial, &labels);
    for (image, stop) in stops.iter().enumerate() {
        let got = values(outcome.adversarial.clone().narrow(0, image, 1));
        let expected = match stop {
            Some(0) => panic!("image {image} starts out fooling the model that labelled it"),
            // Stopped after iteration k: the k-iteration run's image, fooling every model.
            Some(k) => {
                assert!(leads[image] as f64 > MARGIN, "image {image}: lead {}", leads[image]);
                let short =
                    fixed_steps(*k).run(&ensemble, clean.clone(), &Objective::untargeted(labels.clone())).unwrap();
                values(short.adversarial.narrow(0, image, 1))
            }
            None => values(plain.adversarial.clone().narrow(0, image, 1)),
        };
        assert_eq!(got, expected, "image {image} (stopped at {stop:?})");
    }
    // Off by default: nothing stops.
    assert!(plain.stopped_at.iter().all(Option::is_none) && plain.stopped_at.len() == 5);
}

#[test]
fn early_stopping_is_per_image_and_resumes_from_a_checkpoint() {
    let ensemble = mlp_ensemble(2, 48, 4);
    let batches = batch(&ensemble);
    let attack = fixed_steps(15);
    let whole = attack.run_dataset(stopping(), &ensemble, &batches, &untargeted).unwrap();
    let whole = &whole.batches[0];
    // Each image alone: the same example and the same stop.
    for image in 0..5 {
        let alone = vec![Batch::labelled(
            batches[0].images.clone().narrow(0, image, 1),
            vec![batches[0].labels.as_ref().unwrap()[image]],
        )];
        let outcome = attack.run_dataset(stopping(), &ensemble, &alone, &untargeted).unwrap();
        assert_eq!(outcome.batches[0].stopped_at, vec![whole.stopped_at[image]], "image {image}");
        assert_eq!(values(outcome.adversarial()), values(whole.adversarial.clone().narrow(0, image, 1)));
    }
    // Stopped by an observer after 4 iterations, then resumed: the uninterrupted result.
    let path = std::env::temp_dir().join(format!("cw-early-stop-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let checkpoints = Checkpoints { path: path.clone(), every: 1 };
    let mut stopper = StopAfter::new(4);
    let executor = Executor::observed(&mut stopper).with_checkpoints(checkpoints.clone());
    attack
        .run_dataset(executor.with_early_stop(EarlyStop { margin: MARGIN }), &ensemble, &batches, &untargeted)
        .unwrap();
    let resumed =
        attack.run_dataset(stopping().with_checkpoints(checkpoints.clone()), &ensemble, &batches, &untargeted);
    let resumed = resumed.unwrap();
    assert_eq!(resumed.batches[0].stopped_at, whole.stopped_at);
    assert_eq!(values(resumed.adversarial()), values(whole.adversarial.clone()));
    // A checkpoint of a run with early stopping does not resume a run without it.
    let plain = attack.run_dataset(Executor::new().with_checkpoints(checkpoints), &ensemble, &batches, &untargeted);
    assert!(matches!(plain, Err(Error::InvalidCheckpoint(_))), "{:?}", plain.map(|o| o.stop));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn an_image_that_already_fools_every_model_is_never_moved() {
    use common_weakness::surrogate::from_fn;
    // Class 1 wins by 2·(mean − 0.5): the first image (mean 0.9) is misclassified by 0.8.
    let model = from_fn("mean", |x: Tensor<4>| {
        let m = x.mean_dims(&[1, 2, 3]).reshape([-1, 1]);
        Tensor::cat(vec![m.clone().neg().add_scalar(0.5), m.sub_scalar(0.5)], 1)
    });
    let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
    let x = Tensor::<4>::from_floats([[[[0.9]]], [[[0.3]]]], &super::common::device());
    let batches = vec![Batch::labelled(x.clone(), vec![0, 0])];
    let executor = Executor::new().with_early_stop(EarlyStop { margin: 0.5 });
    let outcome = fixed_steps(3).run_dataset(executor, &ensemble, &batches, &untargeted).unwrap();
    assert_eq!(outcome.batches[0].stopped_at, vec![Some(0), None]);
    assert_eq!(values(outcome.adversarial())[0], 0.9);
}

#[test]
fn early_stopping_refuses_a_bad_margin_an_unlabelled_objective_and_universal_runs() {
    let ensemble = mlp_ensemble(1, 48, 4);
    let batches = batch(&ensemble);
    let attack = fixed_steps(2);
    let negative = Executor::new().with_early_stop(EarlyStop { margin: -1.0 });
    let refused = attack.run_dataset(negative, &ensemble, &batches, &untargeted);
    assert!(matches!(refused, Err(Error::InvalidParameter { name: "margin", .. })));
    let distortion = attack.run_dataset(stopping(), &ensemble, &batches, &|_: &Batch| Objective::feature_distortion());
    assert!(distortion.is_err());
    let universal = Universal::new(UniversalVariable::Perturbation, 1);
    let refused = attack.train_universal(stopping(), &universal, &ensemble, &batches, &untargeted);
    assert!(matches!(refused, Err(Error::InvalidParameter { name: "early_stop", .. })));
}
