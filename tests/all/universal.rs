//! Universal perturbations and patches: reduction to the per-image attack, the applier's
//! gradient, admissibility, seeded draws, every engine attack on a shared variable.

use approx::assert_abs_diff_eq;
use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, Checkpoints, Executor, Iterate, Rap, RapConfig, Svre, SvreConfig};
use common_weakness::observe::{IterationRecord, StopReason};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::snapshot::Snapshot;
use common_weakness::universal::{
    total_variation, Batch, Eot, Patch, Placement, Region, Schedule, Universal, UniversalVariable,
};

use crate::common::{device, images, mlp_ensemble, values, StopAfter};

fn untargeted(batch: &Batch) -> Objective {
    Objective::untargeted(batch.labels.clone().unwrap())
}

fn dataset(batches: usize, per_batch: usize) -> Vec<Batch> {
    (0..batches)
        .map(|i| {
            let labels = (0..per_batch).map(|n| (n + i) % 3).collect();
            Batch::labelled(images(10 + i as u64, [per_batch, 1, 4, 4], 0.2, 0.8), labels)
        })
        .collect()
}

#[test]
fn a_universal_perturbation_of_one_image_equals_the_per_image_attack() {
    let threat = ThreatModel::linf(0.1);
    reduces_to_the_per_image_attack(&Cwa::mi_cwa(CwaConfig::paper(0.1)));
    reduces_to_the_per_image_attack(&Cwa::adam_cwa(CwaConfig::paper(0.1)));
    reduces_to_the_per_image_attack(&mi_fgsm(threat, 10, 1.0));
    reduces_to_the_per_image_attack(&Svre::new(SvreConfig::paper(threat)));
}

/// Pixels in [0.3, 0.7] and ε = 0.1: no clamp to [0, 1] ever acts, so `x_nat + δ` and the
/// per-image iterate move identically, one batch being one iteration.
fn reduces_to_the_per_image_attack<A: Iterate>(attack: &A) {
    let ensemble = mlp_ensemble(3, 16, 3);
    let x = images(1, [1, 1, 4, 4], 0.3, 0.7);
    let objective = Objective::untargeted(vec![1]);
    let per_image = attack.run(&ensemble, x.clone(), &objective).unwrap();
    let batches = vec![Batch::labelled(x.clone(), vec![1])];
    let universal = Universal::new(UniversalVariable::Perturbation, per_image.records.len());
    let outcome = universal.train(attack, &ensemble, &batches, &|_| objective.clone()).unwrap();
    assert!(values(outcome.variable.clone().abs().max())[0] > 0.05, "{}: the perturbation moved", attack.name());
    let adversarial = values(x + outcome.variable);
    for (a, b) in adversarial.iter().zip(values(per_image.adversarial)) {
        assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
    }
    for (u, p) in outcome.records.iter().zip(&per_image.records) {
        for (a, b) in u.loss_per_model.iter().zip(&p.loss_per_model) {
            assert_abs_diff_eq!(*a, *b, epsilon = 1e-4);
        }
    }
}

#[test]
fn the_gradient_of_a_pasted_patch_is_the_sum_of_the_covered_pixels_gradients() {
    // Two 5×5 images, a 2×3 patch at row 1, column 2, pasted as it is: d/dP[c, i, j] of
    // Σ w ⊙ pasted is Σ_n w[n, c, 1 + i, 2 + j]; uncovered pixels keep the image.
    let patch = Patch::new(2, 3, Placement::Fixed { top: 1, left: 2 });
    let variable = UniversalVariable::Patch(patch);
    let batch = Batch::labelled(images(3, [2, 1, 5, 5], 0.0, 1.0), vec![0, 0]);
    let weights = images(4, [2, 1, 5, 5], -1.0, 1.0);
    let p = images(5, [1, 1, 2, 3], 0.0, 1.0).require_grad();
    let pasted = variable.apply_to(p.clone(), &batch, &mut AttackRng::new(0)).unwrap();
    let gradient =
        values(p.grad(&(pasted.clone() * weights.clone()).sum().backward()).map(Tensor::from_inner).unwrap());
    let w = values(weights);
    let (x, pv, out) = (values(batch.images.clone()), values(p.clone()), values(pasted));
    for i in 0..2 {
        for j in 0..3 {
            let expected = w[(1 + i) * 5 + 2 + j] + w[25 + (1 + i) * 5 + 2 + j];
            assert_abs_diff_eq!(gradient[i * 3 + j], expected, epsilon = 1e-5);
        }
    }
    for n in 0..2 {
        for r in 0..5 {
            for c in 0..5 {
                let at = n * 25 + r * 5 + c;
                let inside = (1..3).contains(&r) && (2..5).contains(&c);
                let expected = if inside { pv[(r - 1) * 3 + c - 2] } else { x[at] };
                assert_abs_diff_eq!(out[at], expected, epsilon = 1e-6);
            }
        }
    }
}

#[test]
fn patches_on_boxes_cover_each_box_centre_and_nothing_far_away() {
    let patch = Patch::new(4, 4, Placement::OnBoxes { relative_scale: 0.2 });
    let boxes = vec![
        vec![Region { left: 2.0, top: 2.0, right: 12.0, bottom: 12.0 }],
        vec![
            Region { left: 20.0, top: 4.0, right: 30.0, bottom: 24.0 },
            Region { left: 2.0, top: 20.0, right: 8.0, bottom: 30.0 },
        ],
    ];
    let batch = Batch::with_boxes(Tensor::<4>::zeros([2, 1, 32, 32], &device()), boxes);
    let white = Tensor::<4>::ones([1, 1, 4, 4], &device());
    let pasted = values(UniversalVariable::Patch(patch).apply_to(white, &batch, &mut AttackRng::new(0)).unwrap());
    let at = |n: usize, r: usize, c: usize| pasted[n * 1024 + r * 32 + c];
    assert_abs_diff_eq!(at(0, 7, 7), 1.0, epsilon = 1e-5); // centre of box 1
    assert_abs_diff_eq!(at(1, 14, 25), 1.0, epsilon = 1e-5); // centre of box 2
    assert_abs_diff_eq!(at(1, 25, 5), 1.0, epsilon = 1e-5); // centre of box 3
    assert_eq!(at(0, 25, 25), 0.0);
    assert_eq!(at(1, 1, 1), 0.0);
    // Box 1's diagonal is 14.1 pixels: the patch side is 2.8, so pixels 3 away stay clean.
    assert_eq!(at(0, 7, 11), 0.0);
}

#[test]
fn every_random_draw_of_the_applier_is_seeded() {
    let patch = Patch::new(3, 3, Placement::Random).with_eot(Eot::default());
    let variable = UniversalVariable::Patch(patch);
    let batch = Batch::labelled(images(6, [3, 3, 12, 12], 0.0, 1.0), vec![0; 3]);
    let p = images(7, [1, 3, 3, 3], 0.0, 1.0);
    let paste = |seed| values(variable.apply_to(p.clone(), &batch, &mut AttackRng::new(seed)).unwrap());
    assert_eq!(paste(1), paste(1));
    assert_ne!(paste(1), paste(2));
}

#[test]
fn patches_stay_in_the_unit_box_and_perturbations_in_their_ball() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset(3, 4);
    let patch =
        UniversalVariable::Patch(Patch::new(2, 2, Placement::Random).with_eot(Eot::default()).with_tv_weight(1.0));
    let attack = Cwa::adam_cwa(CwaConfig::paper(0.3));
    let outcome = Universal::new(patch, 3).train(&attack, &ensemble, &batches, &untargeted).unwrap();
    let p = values(outcome.variable);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
    assert!(p.iter().any(|v| (*v - 0.5).abs() > 1e-3), "the patch moved");
    for threat in [ThreatModel::linf(0.05), ThreatModel::l2(0.2)] {
        let attack = Cwa::mi_cwa(CwaConfig { threat, ..CwaConfig::paper(threat.budget) });
        let outcome = Universal::new(UniversalVariable::Perturbation, 2)
            .train(&attack, &ensemble, &batches, &untargeted)
            .unwrap();
        let delta = outcome.variable;
        let size = match threat.norm {
            Norm::Linf => values(delta.abs().max())[0],
            Norm::L2 => values(delta.square().sum())[0].sqrt(),
        };
        assert!(size <= threat.budget as f32 * (1.0 + 1e-5), "{size} > {}", threat.budget);
    }
}

#[test]
fn every_engine_attack_trains_a_universal_variable_and_lowers_its_objective() {
    let ensemble = mlp_ensemble(3, 16, 3);
    let batches = dataset(2, 3);
    let threat = ThreatModel::linf(0.3);
    let config = CwaConfig::paper(0.3);
    let variable = UniversalVariable::Perturbation;
    let check = |name: &str, outcome: common_weakness::universal::UniversalOutcome| {
        let first: f64 = outcome.records[0].loss_per_model.iter().sum();
        let last: f64 = outcome.records.last().unwrap().loss_per_model.iter().sum();
        assert!(last < first, "{name}: {first} -> {last}");
    };
    let universal = Universal::new(variable, 5);
    check("MI-CWA", universal.train(&Cwa::mi_cwa(config.clone()), &ensemble, &batches, &untargeted).unwrap());
    check("Adam-CWA", universal.train(&Cwa::adam_cwa(config.clone()), &ensemble, &batches, &untargeted).unwrap());
    check("MI-CSE", universal.train(&Cwa::mi_cse(config.clone()), &ensemble, &batches, &untargeted).unwrap());
    check("MI-SAM", universal.train(&Cwa::mi_sam(config.clone()), &ensemble, &batches, &untargeted).unwrap());
    check("MI-FGSM", universal.train(&mi_fgsm(threat, 10, 1.0), &ensemble, &batches, &untargeted).unwrap());
    check("SSA-CWA", universal.train(&Cwa::ssa_cwa(config), &ensemble, &batches, &untargeted).unwrap());
    let svre = Svre::new(SvreConfig::paper(threat));
    check("SVRE", universal.train(&svre, &ensemble, &batches, &untargeted).unwrap());
    let rap = Rap::new(RapConfig { late_start: 0, ..RapConfig::paper(threat) });
    check("RAP", universal.train(&rap, &ensemble, &batches, &untargeted).unwrap());
}

#[test]
fn alrs_decays_the_steps_after_an_epoch_without_progress() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset(2, 3);
    // A budget this small stops the loss from improving by 1% after the first epochs.
    let attack = Cwa::mi_cwa(CwaConfig::paper(1e-3));
    let schedule = Schedule::Alrs { abs_threshold: 0.01, rel_threshold: 0.01, gamma: 0.5 };
    let outcome = Universal::new(UniversalVariable::Perturbation, 4)
        .with_schedule(schedule)
        .train(&attack, &ensemble, &batches, &untargeted)
        .unwrap();
    assert_eq!(outcome.epoch_losses.len(), 4);
    assert_eq!(outcome.step_scales[0], 1.0);
    assert!(outcome.step_scales[3] < 1.0, "{:?} {:?}", outcome.step_scales, outcome.epoch_losses);
}

#[test]
fn step_decay_scales_the_steps_every_few_epochs() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1));
    let schedule = Schedule::StepDecay { every: 2, gamma: 0.5 };
    let universal = Universal::new(UniversalVariable::Perturbation, 5).with_schedule(schedule);
    let outcome = universal.train(&attack, &ensemble, &dataset(1, 2), &untargeted).unwrap();
    assert_eq!(outcome.step_scales, vec![1.0, 1.0, 0.5, 0.5, 0.25]);
    let bad = universal.with_schedule(Schedule::StepDecay { every: 0, gamma: 0.5 });
    assert!(matches!(
        bad.train(&attack, &ensemble, &dataset(1, 2), &untargeted),
        Err(Error::InvalidParameter { name: "every", .. })
    ));
}

#[test]
fn the_same_seed_trains_the_same_patch() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset(2, 3);
    let patch = UniversalVariable::Patch(Patch::new(2, 2, Placement::Random).with_eot(Eot::default()));
    let train = |seed| {
        let attack = Cwa::mi_cwa(CwaConfig::paper(0.3)).with_seed(seed);
        values(Universal::new(patch, 2).train(&attack, &ensemble, &batches, &untargeted).unwrap().variable)
    };
    assert_eq!(train(3), train(3));
    assert_ne!(train(3), train(4));
}

#[test]
fn bad_datasets_are_typed_errors_naming_the_batch() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1));
    let universal = Universal::new(UniversalVariable::Perturbation, 1);
    let empty: Vec<Batch> = Vec::new();
    let error = universal.train(&attack, &ensemble, &empty, &untargeted).unwrap_err();
    assert!(matches!(error, Error::InvalidDataset { batch: 0, .. }), "{error}");

    let mut batches = dataset(2, 3);
    batches[1] = Batch::labelled(images(1, [3, 1, 5, 5], 0.0, 1.0), vec![0, 0, 0]);
    let error = universal.train(&attack, &ensemble, &batches, &untargeted).unwrap_err();
    assert!(matches!(error, Error::InvalidDataset { batch: 1, .. }), "{error}");

    let too_big = UniversalVariable::Patch(Patch::new(5, 5, Placement::Random));
    let error = Universal::new(too_big, 1).train(&attack, &ensemble, &dataset(1, 2), &untargeted).unwrap_err();
    assert!(error.to_string().contains("does not fit"), "{error}");

    let on_boxes = UniversalVariable::Patch(Patch::new(2, 2, Placement::OnBoxes { relative_scale: 0.2 }));
    let error = Universal::new(on_boxes, 1).train(&attack, &ensemble, &dataset(1, 2), &untargeted).unwrap_err();
    assert!(error.to_string().contains("boxes"), "{error}");

    let error =
        Universal::new(UniversalVariable::Perturbation, 0).train(&attack, &ensemble, &dataset(1, 2), &untargeted);
    assert!(matches!(error, Err(Error::InvalidParameter { name: "epochs", .. })));
}

#[test]
fn total_variation_is_the_mean_neighbour_difference_in_each_direction() {
    // [[0, 1], [1, 1]]: vertical differences 1 and 0, horizontal 1 and 0: 0.5 + 0.5.
    let patch = Tensor::<4>::from_floats([[[[0.0, 1.0], [1.0, 1.0]]]], &device());
    assert_abs_diff_eq!(values(total_variation(patch))[0], 1.0, epsilon = 1e-6);
    assert_eq!(values(total_variation(Tensor::<4>::full([1, 3, 4, 4], 0.3, &device())))[0], 0.0);
    assert_eq!(values(total_variation(Tensor::<4>::ones([1, 1, 1, 1], &device())))[0], 0.0);
}

#[test]
fn the_confidence_loss_is_the_mean_of_the_highest_scores() {
    let objective = Objective::confidence(2);
    let outputs = Tensor::<2>::from_floats([[0.1, 0.9, 0.5, 0.7], [0.3, 0.2, 0.0, 0.1]], &device());
    let input =
        common_weakness::objective::LossInput { outputs: outputs.clone(), one_hot: None, reference_outputs: outputs };
    let loss = values(objective.per_sample(input).unwrap());
    assert_abs_diff_eq!(loss[0], 0.8, epsilon = 1e-6);
    assert_abs_diff_eq!(loss[1], 0.25, epsilon = 1e-6);
    assert!(Objective::confidence(0).validate(1).is_err());
}

/// A run stopped after `stop` steps and resumed from its checkpoint ends with the same bits
/// as the uninterrupted run.
fn resumes_bit_for_bit<A>(attack: &A, variable: UniversalVariable, stop: usize)
where
    A: Iterate,
    A::State: Snapshot,
{
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset(2, 3);
    let schedule = Schedule::Alrs { abs_threshold: 0.01, rel_threshold: 0.01, gamma: 0.5 };
    let universal = Universal::new(variable, 4).with_schedule(schedule);
    let whole = universal.train(attack, &ensemble, &batches, &untargeted).unwrap();

    let path = std::env::temp_dir().join(format!("cw-checkpoint-{}-{}-{stop}.json", std::process::id(), attack.name()));
    let _ = std::fs::remove_file(&path);
    let checkpoints = Checkpoints { path: path.clone(), every: 1 };
    let mut stopper = StopAfter::new(stop);
    let stopped = Executor::observed(&mut stopper)
        .with_checkpoints(checkpoints.clone())
        .universal(&universal, attack, &ensemble, &batches, &untargeted)
        .unwrap();
    assert_eq!(stopped.stop, StopReason::Observer { iteration: stop });
    let mut observer = StopAfter::new(0);
    let resumed = Executor::observed(&mut observer)
        .with_checkpoints(checkpoints)
        .universal(&universal, attack, &ensemble, &batches, &untargeted)
        .unwrap();
    // The checkpoint was written at the stop: only the steps after it ran.
    assert_eq!(observer.seen, 8 - stop, "{}: resumed from the checkpoint", attack.name());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(values(resumed.variable), values(whole.variable), "{}", attack.name());
    let losses = |records: &[IterationRecord]| records.iter().map(|r| r.loss_per_model.clone()).collect::<Vec<_>>();
    assert_eq!(losses(&resumed.records), losses(&whole.records));
    assert_eq!(resumed.step_scales, whole.step_scales);
    assert_eq!(resumed.epoch_losses, whole.epoch_losses);
}

#[test]
fn a_resumed_run_ends_bit_for_bit_as_the_uninterrupted_one() {
    let patch =
        UniversalVariable::Patch(Patch::new(2, 2, Placement::Random).with_eot(Eot::default()).with_tv_weight(0.5));
    // Stopped inside an epoch (steps 3 and 5) and on the last step of epoch 2 (step 4).
    resumes_bit_for_bit(&Cwa::mi_cwa(CwaConfig::paper(0.3)), UniversalVariable::Perturbation, 5);
    resumes_bit_for_bit(&Cwa::adam_cwa(CwaConfig::paper(0.3)), patch, 4);
    resumes_bit_for_bit(&Cwa::vmi_cwa(CwaConfig::paper(0.3)), patch, 3);
    resumes_bit_for_bit(&Svre::new(SvreConfig::paper(ThreatModel::linf(0.3))), UniversalVariable::Perturbation, 5);
    resumes_bit_for_bit(&Rap::new(RapConfig { late_start: 2, ..RapConfig::paper(ThreatModel::linf(0.3)) }), patch, 5);
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset(2, 3);
    let path = std::env::temp_dir().join(format!("cw-checkpoint-other-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let checkpoints = Checkpoints { path: path.clone(), every: 1 };
    let universal = Universal::new(UniversalVariable::Perturbation, 1);
    let train = |universal: &Universal, attack: &dyn Fn(&Universal, Executor) -> Result<_, Error>| {
        attack(universal, Executor::new().with_checkpoints(checkpoints.clone()))
    };
    let mi_cwa = |u: &Universal, e: Executor| {
        e.universal(u, &Cwa::mi_cwa(CwaConfig::paper(0.3)), &ensemble, &batches, &untargeted)
    };
    let adam_cwa = |u: &Universal, e: Executor| {
        e.universal(u, &Cwa::adam_cwa(CwaConfig::paper(0.3)), &ensemble, &batches, &untargeted)
    };
    train(&universal, &mi_cwa).unwrap();
    // More epochs extend the run; another attack is refused.
    let longer = Universal::new(UniversalVariable::Perturbation, 2);
    let extended = train(&longer, &mi_cwa).unwrap();
    assert_eq!(extended.records.len(), 4);
    let error = train(&longer, &adam_cwa);
    std::fs::write(&path, "{ not json").unwrap();
    let garbage = train(&longer, &mi_cwa);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(error, Err(Error::InvalidCheckpoint(_))), "{error:?}");
    assert!(matches!(garbage, Err(Error::InvalidCheckpoint(_))), "{garbage:?}");
}
