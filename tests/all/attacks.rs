//! Behaviour of the attack loop: seeding, records, observers, objectives, combinations.

use burn::tensor::Tensor;
use common_weakness::attack::{pgd, CwaConfig};
use common_weakness::objective::LossInput;
use common_weakness::observe::{Control, IterationRecord, StopReason};
use common_weakness::prelude::*;
use common_weakness::surrogate::from_fn;

use super::common::{device, images, mlp, mlp_ensemble, values};

fn labels() -> Vec<usize> {
    vec![0, 1, 2]
}

#[test]
fn same_seed_same_result_different_seed_different_result() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(1, [3, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(labels());
    let threat = ThreatModel::linf(0.1);
    let run = |seed: u64| values(pgd(threat, 5, 0.02, seed).run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    let mut cwa = Cwa::mi_cwa(CwaConfig::paper(0.1).with_seed(3)).with_order(VisitOrder::Shuffled);
    cwa.settings.random_start = true;
    let first = values(cwa.run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    assert_eq!(first, values(cwa.run(&ensemble, x.clone(), &objective).unwrap().adversarial));
}

#[test]
fn records_describe_every_iteration() {
    let ensemble = mlp_ensemble(3, 12, 4);
    let x = images(2, [3, 3, 2, 2], 0.0, 1.0);
    let outcome = Cwa::mi_cwa(CwaConfig::paper(0.1)).run(&ensemble, x, &Objective::untargeted(labels())).unwrap();
    assert_eq!(outcome.stop, StopReason::Completed);
    assert_eq!(outcome.records.len(), 10);
    assert_eq!(outcome.info.models, vec!["mlp0", "mlp1", "mlp2"]);
    assert_eq!(outcome.info.attack, "MI-CWA");
    assert_eq!(outcome.info.backend, common_weakness::backend::BackendKind::name_of(&super::common::device()));
    for (i, record) in outcome.records.iter().enumerate() {
        assert_eq!(record.iteration, i + 1);
        assert_eq!(record.loss_per_model.len(), 3);
        let cosine = record.gradient_cosine.expect("three models have pairwise similarities");
        assert!((-1.0..=1.0).contains(&cosine));
        assert!(record.perturbation_linf <= 0.1 + 1e-6 && record.perturbation_l2 > 0.0);
    }
    assert_eq!(outcome.records[0].loss_per_model, outcome.initial_loss);
}

#[test]
fn an_observer_can_stop_the_run() {
    struct StopAtThree(Vec<usize>);
    impl Observer for StopAtThree {
        fn observe(&mut self, record: &IterationRecord) -> Control {
            self.0.push(record.iteration);
            if record.iteration == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    }
    let ensemble = mlp_ensemble(2, 12, 4);
    let mut observer = StopAtThree(Vec::new());
    let outcome = Cwa::mi_cwa(CwaConfig::paper(0.1))
        .run_observed(&ensemble, images(3, [3, 3, 2, 2], 0.0, 1.0), &Objective::untargeted(labels()), &mut observer)
        .unwrap();
    assert_eq!(observer.0, vec![1, 2, 3]);
    assert_eq!(outcome.stop, StopReason::Observer { iteration: 3 });
    assert_eq!(outcome.records.len(), 3);
}

#[test]
fn every_loss_and_goal_decreases_its_objective() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(4, [3, 3, 2, 2], 0.0, 1.0);
    let objectives = vec![
        Objective::untargeted(labels()),
        Objective::targeted(vec![3, 3, 3]),
        Objective::untargeted(labels()).with_loss(LossKind::Margin { confidence: 50.0 }),
        Objective::targeted(vec![3, 3, 3]).with_loss(LossKind::Margin { confidence: 50.0 }),
        Objective::untargeted(labels()).with_loss(LossKind::Logit),
        Objective::targeted(vec![3, 3, 3]).with_loss(LossKind::Logit),
        Objective::feature_distortion(),
    ];
    for objective in objectives {
        let config = CwaConfig {
            random_start: objective.loss_kind() == Some(LossKind::FeatureDistortion),
            ..CwaConfig::paper(0.2)
        };
        let outcome = Cwa::mi_cwa(config).run(&ensemble, x.clone(), &objective).unwrap();
        for (before, after) in outcome.initial_loss.iter().zip(&outcome.final_loss) {
            assert!(after < before, "{objective:?}: objective went from {before} to {after}");
        }
    }
}

#[test]
fn loss_mean_combines_encoders_with_different_embedding_sizes() {
    let ensemble = Ensemble::new(vec![mlp("e3", 1, 12, 8, 3), mlp("e5", 2, 12, 8, 5)]).unwrap();
    let x = images(5, [2, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::feature_distortion();
    let config = CwaConfig { random_start: true, ..CwaConfig::paper(0.1) };
    let mismatch = Cwa::mi_cwa(config.clone()).run(&ensemble, x.clone(), &objective).unwrap_err();
    assert!(matches!(mismatch, Error::OutputMismatch { expected: 3, actual: 5, .. }), "{mismatch}");
    let stuck = Cwa::mi_cwa(CwaConfig::paper(0.1))
        .with_combination(Combination::LossMean)
        .run(&ensemble, x.clone(), &objective)
        .unwrap_err();
    assert!(matches!(stuck, Error::InvalidObjective(_)), "{stuck}");
    let outcome = Cwa::mi_cwa(config).with_combination(Combination::LossMean).run(&ensemble, x, &objective).unwrap();
    assert!(outcome.final_loss.iter().zip(&outcome.initial_loss).all(|(a, b)| a < b));
}

#[test]
fn custom_losses_and_weights_are_used() {
    // Minimise the first output only: the gradient of model "a" is its first weight column.
    let objective = Objective::custom(None, |input: LossInput| input.outputs.narrow(1, 0, 1).squeeze_dim(1));
    let ensemble = Ensemble::new(vec![mlp("a", 1, 12, 8, 3), mlp("b", 2, 12, 8, 3)])
        .unwrap()
        .with_weights(vec![1.0, 0.0])
        .unwrap();
    let x = images(6, [2, 3, 2, 2], 0.2, 0.8);
    let alone = Ensemble::new(vec![mlp("a", 1, 12, 8, 3)]).unwrap();
    let attack = common_weakness::attack::bim(ThreatModel::linf(0.05), 4);
    let weighted = values(attack.run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    let single = values(attack.run(&alone, x, &objective).unwrap().adversarial);
    assert_eq!(weighted, single, "a zero weight removes the model from the ensemble gradient");
}

#[test]
fn zero_gradients_give_no_nan() {
    let constant = from_fn("constant", |x: Tensor<4>| x.flatten::<2>(1, 3).mul_scalar(0.0).narrow(1, 0, 2));
    let ensemble = Ensemble::new(vec![Box::new(constant.clone()), Box::new(constant)]).unwrap();
    let x = images(7, [2, 3, 2, 2], 0.0, 1.0);
    for config in [CwaConfig::paper(0.1), CwaConfig::reference(0.1)] {
        let outcome =
            Cwa::adam_cwa(config.clone()).run(&ensemble, x.clone(), &Objective::untargeted(vec![0, 1])).unwrap();
        assert_eq!(values(outcome.adversarial), values(x.clone()), "no gradient, no movement");
        let outcome = Cwa::mi_cwa(config).run(&ensemble, x.clone(), &Objective::untargeted(vec![0, 1])).unwrap();
        assert!(values(outcome.adversarial).iter().all(|v| v.is_finite()));
        assert!(outcome.records.iter().all(|r| r.gradient_cosine == Some(0.0)));
    }
}

#[test]
fn shuffled_order_changes_the_sweep_but_not_admissibility() {
    let x = images(8, [2, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]);
    let ensemble = mlp_ensemble(4, 12, 4);
    let attack = Cwa::mi_cse(CwaConfig::paper(0.1).with_seed(1));
    let a = values(attack.clone().run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    let b = values(attack.with_order(VisitOrder::Shuffled).run(&ensemble, x, &objective).unwrap().adversarial);
    assert_ne!(a, b);
}

#[test]
fn the_logit_loss_is_the_labels_logit_raised_when_targeted_and_lowered_when_not() {
    let logits = [[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]];
    let input = || LossInput {
        outputs: Tensor::<2>::from_floats(logits, &device()),
        // Labels 2 and 0.
        one_hot: Some(Tensor::<2>::from_floats([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], &device())),
        reference_outputs: Tensor::<2>::from_floats(logits, &device()),
    };
    let loss = |objective: Objective| values(objective.with_loss(LossKind::Logit).per_sample(input()).unwrap());
    // Minimised: z_y untargeted, −z_t targeted.
    assert_eq!(loss(Objective::untargeted(vec![2, 0])), vec![3.0, 0.0]);
    assert_eq!(loss(Objective::targeted(vec![2, 0])), vec![-3.0, -0.0]);
    // It needs labels.
    let unlabelled = Objective::feature_distortion().with_loss(LossKind::Logit);
    assert!(matches!(unlabelled.validate(1), Err(Error::InvalidObjective(_))));
}

#[test]
fn po_trip_is_the_poincare_distance_to_the_target_plus_the_weighted_triplet_term() {
    let logits = [[1.0f32, 2.0, -1.0], [2.0, 1.0, 0.5]];
    let targets = [1usize, 1];
    let truths = [0usize, 0];
    let input = || LossInput {
        outputs: Tensor::<2>::from_floats(logits, &device()),
        one_hot: Some(Tensor::<2>::from_floats([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], &device())),
        reference_outputs: Tensor::<2>::from_floats(logits, &device()),
    };
    let (margin, weight) = (0.007, 0.5);
    let objective = Objective::targeted(targets.to_vec())
        .with_loss(LossKind::PoincareTriplet { margin, weight })
        .with_true_labels(truths.to_vec());
    let loss = values(objective.per_sample(input()).unwrap());
    // By hand, in f64.
    for (row, z) in logits.iter().enumerate() {
        let z: Vec<f64> = z.iter().map(|&v| v as f64).collect();
        let l1: f64 = z.iter().map(|v| v.abs()).sum();
        let u: Vec<f64> = z.iter().map(|v| v / l1).collect();
        let v: Vec<f64> = (0..3).map(|k| if k == targets[row] { 1.0 - 1e-5 } else { 0.0 }).collect();
        let squared = |a: &[f64]| a.iter().map(|x| x * x).sum::<f64>();
        let gap: f64 = u.iter().zip(&v).map(|(a, b)| (a - b) * (a - b)).sum();
        let poincare = (1.0 + 2.0 * gap / ((1.0 - squared(&u)) * (1.0 - squared(&v)))).acosh();
        let distance = |class: usize| 1.0 - z[class].abs() / squared(&z).sqrt();
        let triplet = (distance(targets[row]) - distance(truths[row]) + margin).max(0.0);
        let expected = poincare + weight * triplet;
        assert!((loss[row] as f64 - expected).abs() < 1e-3 * expected, "row {row}: {} against {expected}", loss[row]);
    }
    // The second row's triplet term is active (its logits favour the true class): λ counts.
    let without = Objective::targeted(targets.to_vec())
        .with_loss(LossKind::PoincareTriplet { margin, weight: 0.0 })
        .with_true_labels(truths.to_vec());
    let without = values(without.per_sample(input()).unwrap());
    assert_eq!(loss[0], without[0]);
    assert!(loss[1] > without[1] + 0.1);
    // Targeted only, and the true labels are required.
    let untargeted = Objective::untargeted(vec![1, 1]).with_loss(LossKind::po_trip()).with_true_labels(vec![0, 0]);
    assert!(matches!(untargeted.validate(2), Err(Error::InvalidObjective(_))));
    let no_truth = Objective::targeted(vec![1, 1]).with_loss(LossKind::po_trip());
    assert!(matches!(no_truth.validate(2), Err(Error::InvalidObjective(m)) if m.contains("with_true_labels")));
    let short = Objective::targeted(vec![1, 1]).with_loss(LossKind::po_trip()).with_true_labels(vec![0]);
    assert!(matches!(short.validate(2), Err(Error::BatchMismatch { images: 2, labels: 1 })));
}

#[test]
fn a_targeted_mi_cwa_on_po_trip_moves_every_image_toward_its_target() {
    let x = images(50, [3, 3, 4, 4], 0.2, 0.8);
    let ensemble = mlp_ensemble(2, 48, 4);
    let objective = Objective::targeted(vec![3, 3, 2]).with_loss(LossKind::po_trip()).with_true_labels(vec![0, 1, 0]);
    let outcome = Cwa::mi_cwa(CwaConfig::paper(0.2).with_iterations(10)).run(&ensemble, x, &objective).unwrap();
    assert!(outcome.final_loss.iter().zip(&outcome.initial_loss).all(|(a, b)| a < b && a.is_finite()));
    let adversarial = values(outcome.adversarial);
    assert!(adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn gi_warms_up_with_long_steps_then_restarts_from_the_clean_images_keeping_its_momentum() {
    use common_weakness::attack::{gi_fgsm, mi_fgsm, WarmUp};
    let ensemble = mlp_ensemble(2, 48, 4);
    let x = images(51, [2, 3, 4, 4], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1]);
    let threat = ThreatModel::linf(0.1);
    let run = |attack: &dyn Attack| attack.run(&ensemble, x.clone(), &objective).unwrap();
    let gi = run(&gi_fgsm(threat, 6, 1.0));
    assert_eq!(gi.records.len(), 6 + 5);
    // A warm-up step is ten steps of ε/6: the budget caps it at once.
    assert!((gi.records[0].perturbation_linf - 0.1).abs() < 1e-6, "{}", gi.records[0].perturbation_linf);
    // The first iteration after the warm-up starts from the clean images.
    for (after, clean) in gi.records[5].loss_per_model.iter().zip(&gi.initial_loss) {
        assert!((after - clean).abs() < 1e-6, "{after} against {clean}");
    }
    // The gathered momentum changes the result; without momentum nothing is carried over.
    assert_ne!(values(gi.adversarial), values(run(&mi_fgsm(threat, 6, 1.0)).adversarial));
    assert_eq!(values(run(&gi_fgsm(threat, 6, 0.0)).adversarial), values(run(&mi_fgsm(threat, 6, 0.0)).adversarial));
    // A warm-up of no iterations or a non-positive scale is refused by name.
    for (warm_up, name) in [
        (WarmUp { iterations: 0, step_scale: 10.0 }, "warm_up.iterations"),
        (WarmUp { iterations: 5, step_scale: 0.0 }, "warm_up.step_scale"),
    ] {
        let mut attack = gi_fgsm(threat, 6, 1.0);
        attack.settings.warm_up = Some(warm_up);
        match attack.run(&ensemble, x.clone(), &objective) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{warm_up:?}: {:?}", other.map(|o| o.records.len())),
        }
    }
}
