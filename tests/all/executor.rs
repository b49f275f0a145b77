//! The executor: per-image runs over a dataset equal one run of the whole set, and stop,
//! checkpoint and resume bit for bit (by an observer or a time limit, inside a batch or at its
//! end); a configuration read from JSON runs as its attack; bad settings and foreign
//! checkpoints are typed errors.

use std::path::PathBuf;
use std::time::Duration;

use burn::tensor::Tensor;
use common_weakness::attack::{
    di_mi_fgsm, pgd, registry_at, Attack, AttackConfig, Checkpoints, Executor, Iterate, PerImageOutcome, Rap,
    RapConfig, Svre, SvreConfig,
};
use common_weakness::observe::StopReason;
use common_weakness::prelude::*;
use common_weakness::universal::{Batch, Universal, UniversalVariable};

use crate::common::{images, mlp_ensemble, values, StopAfter};

fn untargeted(batch: &Batch) -> Objective {
    Objective::untargeted(batch.labels.clone().unwrap())
}

/// Three batches of 2, 3 and 1 images.
fn dataset() -> Vec<Batch> {
    [2, 3, 1]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            Batch::labelled(images(20 + i as u64, [n, 1, 4, 4], 0.1, 0.9), (0..n).map(|k| (k + i) % 3).collect())
        })
        .collect()
}

fn checkpoint_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cw-executor-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn records_of(outcome: &PerImageOutcome) -> Vec<Vec<f64>> {
    outcome.batches.iter().flat_map(|b| b.records.iter().map(|r| r.loss_per_model.clone())).collect()
}

#[test]
fn a_per_image_run_over_batches_equals_one_run_of_the_whole_set() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset();
    let whole_images = Tensor::cat(batches.iter().map(|b| b.images.clone()).collect(), 0);
    let labels: Vec<usize> = batches.iter().flat_map(|b| b.labels.clone().unwrap()).collect();
    let attack = di_mi_fgsm(ThreatModel::linf(0.1), 4, 1.0).with_seed(5);
    let whole = attack.run(&ensemble, whole_images, &Objective::untargeted(labels)).unwrap();
    let outcome = Executor::new().per_image(&attack, &ensemble, &batches, &untargeted).unwrap();
    assert_eq!(outcome.stop, StopReason::Completed);
    assert_eq!(outcome.batches.len(), 3);
    assert_eq!(outcome.batches[1].info.image_indices, vec![2, 3, 4]);
    assert_eq!(values(outcome.adversarial()), values(whole.adversarial));
}

/// Runs `attack` over the dataset uninterrupted, then stopped by an observer after `stop`
/// iterations, resumed, and finally resumed again after the end: every run ends with the
/// uninterrupted run's bits.
fn resumes_bit_for_bit<A: Iterate>(attack: &A, stop: usize) {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset();
    let whole = Executor::new().per_image(attack, &ensemble, &batches, &untargeted).unwrap();
    let checkpoints = Checkpoints { path: checkpoint_path(&format!("{}-{stop}", attack.name())), every: 1 };
    let mut stopper = StopAfter::new(stop);
    let stopped = Executor::observed(&mut stopper)
        .with_checkpoints(checkpoints.clone())
        .per_image(attack, &ensemble, &batches, &untargeted)
        .unwrap();
    assert!(matches!(stopped.stop, StopReason::Observer { .. }), "{}: {:?}", attack.name(), stopped.stop);
    let mut counter = StopAfter::new(0);
    let resumed = Executor::observed(&mut counter)
        .with_checkpoints(checkpoints.clone())
        .per_image(attack, &ensemble, &batches, &untargeted)
        .unwrap();
    let total = 3 * attack.plan().iterations;
    assert_eq!(counter.seen, total - stop, "{}: resumed where it stopped", attack.name());
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(values(resumed.adversarial()), values(whole.adversarial()), "{}", attack.name());
    assert_eq!(records_of(&resumed), records_of(&whole), "{}", attack.name());
    let again =
        Executor::new().with_checkpoints(checkpoints.clone()).per_image(attack, &ensemble, &batches, &untargeted);
    std::fs::remove_file(&checkpoints.path).unwrap();
    assert_eq!(values(again.unwrap().adversarial()), values(whole.adversarial()), "{}: a finished run", attack.name());
}

#[test]
fn a_stopped_per_image_run_resumes_bit_for_bit() {
    let threat = ThreatModel::linf(0.1);
    let config = CwaConfig { iterations: 4, ..CwaConfig::paper(0.1) };
    // 4 iterations per batch: stopped inside the second batch, at the end of the first.
    resumes_bit_for_bit(&Cwa::mi_cwa(config.clone()), 6);
    resumes_bit_for_bit(&Cwa::vmi_cwa(config).with_seed(3), 4);
    resumes_bit_for_bit(&pgd(threat, 4, 0.02, 9), 5);
    resumes_bit_for_bit(&Svre::new(SvreConfig { iterations: 4, ..SvreConfig::paper(threat) }), 2);
    resumes_bit_for_bit(&Rap::new(RapConfig { iterations: 4, late_start: 1, ..RapConfig::paper(threat) }), 7);
}

#[test]
fn a_time_limit_stops_cleanly_and_the_run_resumes_to_the_same_end() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset();
    let attack = Cwa::mi_cwa(CwaConfig { iterations: 3, ..CwaConfig::paper(0.1) });
    let whole = Executor::new().per_image(&attack, &ensemble, &batches, &untargeted).unwrap();
    let checkpoints = Checkpoints { path: checkpoint_path("time-limit"), every: 2 };
    // A zero limit passes during every first iteration: each call runs one iteration.
    let mut calls = 0;
    let last = loop {
        calls += 1;
        let outcome = Executor::new()
            .with_checkpoints(checkpoints.clone())
            .with_time_limit(Duration::ZERO)
            .per_image(&attack, &ensemble, &batches, &untargeted)
            .unwrap();
        let batch = outcome.batches.last().unwrap();
        match outcome.stop {
            StopReason::TimeLimit { iteration } => {
                assert_eq!(batch.records.len(), iteration);
                assert!(calls < 9 || batch.stop == outcome.stop, "the batch it stopped in says so");
            }
            stop => panic!("a zero time limit stops every run: {stop:?}"),
        }
        if calls == 9 {
            break outcome;
        }
    };
    std::fs::remove_file(&checkpoints.path).unwrap();
    assert_eq!(calls, 9, "3 batches of 3 iterations, one per call");
    assert_eq!(values(last.adversarial()), values(whole.adversarial()));
    assert_eq!(records_of(&last), records_of(&whole));
}

#[test]
fn bad_executor_settings_and_foreign_checkpoints_are_typed_errors() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset();
    let attack = Cwa::mi_cwa(CwaConfig { iterations: 2, ..CwaConfig::paper(0.1) });
    let every_zero = Checkpoints { path: checkpoint_path("never"), every: 0 };
    let error = Executor::new().with_checkpoints(every_zero).per_image(&attack, &ensemble, &batches, &untargeted);
    assert!(
        matches!(error, Err(Error::InvalidParameter { name: "checkpoints.every", .. })),
        "{:?}",
        error.map(|o| o.stop)
    );
    let empty = Executor::new().per_image(&attack, &ensemble, &[], &untargeted);
    assert!(matches!(empty, Err(Error::InvalidDataset { .. })), "{:?}", empty.map(|o| o.stop));

    let checkpoints = Checkpoints { path: checkpoint_path("foreign"), every: 1 };
    Executor::new().with_checkpoints(checkpoints.clone()).per_image(&attack, &ensemble, &batches, &untargeted).unwrap();
    let other = attack.clone().with_seed(1);
    let foreign =
        Executor::new().with_checkpoints(checkpoints.clone()).per_image(&other, &ensemble, &batches, &untargeted);
    std::fs::write(&checkpoints.path, "{ not json").unwrap();
    let garbage =
        Executor::new().with_checkpoints(checkpoints.clone()).per_image(&attack, &ensemble, &batches, &untargeted);
    std::fs::remove_file(&checkpoints.path).unwrap();
    assert!(matches!(foreign, Err(Error::InvalidCheckpoint(_))), "{:?}", foreign.map(|o| o.stop));
    assert!(matches!(garbage, Err(Error::InvalidCheckpoint(_))), "{:?}", garbage.map(|o| o.stop));
}

#[test]
fn a_configuration_read_from_json_runs_every_kind_of_run_as_its_attack() {
    let ensemble = mlp_ensemble(2, 16, 3);
    let batches = dataset();
    let concrete = Cwa::vmi_cwa(CwaConfig { iterations: 3, ..CwaConfig::paper(0.1) }).with_seed(4);
    let json = serde_json::to_value(AttackConfig::from(concrete.clone())).unwrap();
    let config = AttackConfig::from_record(&json).unwrap();
    let expected = Executor::new().per_image(&concrete, &ensemble, &batches, &untargeted).unwrap();
    let got = Executor::new().per_image(&config, &ensemble, &batches, &untargeted).unwrap();
    assert_eq!(values(got.adversarial()), values(expected.adversarial()));
    assert_eq!(got.batches[0].info, expected.batches[0].info, "the same record");

    // A universal run stopped and resumed through the configuration ends as the concrete one.
    let universal = Universal::new(UniversalVariable::Perturbation, 2);
    let whole = universal.train(&concrete, &ensemble, &batches, &untargeted).unwrap();
    let checkpoints = Checkpoints { path: checkpoint_path("config"), every: 1 };
    let mut stopper = StopAfter::new(3);
    Executor::observed(&mut stopper)
        .with_checkpoints(checkpoints.clone())
        .universal(&universal, &config, &ensemble, &batches, &untargeted)
        .unwrap();
    let resumed = Executor::new()
        .with_checkpoints(checkpoints.clone())
        .universal(&universal, &config, &ensemble, &batches, &untargeted)
        .unwrap();
    std::fs::remove_file(&checkpoints.path).unwrap();
    assert_eq!(values(resumed.variable), values(whole.variable));

    // Every registry attack, as its configuration, trains a universal perturbation.
    for entry in registry_at(ThreatModel::linf(0.1)) {
        let outcome = Universal::new(UniversalVariable::Perturbation, 1)
            .train(&entry.defaults.config(), &ensemble, &batches, &untargeted)
            .unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        assert_eq!(outcome.records.len(), 3, "{}", entry.name);
    }
}

/// A state persisted by field name: reading it back needs exactly its fields.
struct Two {
    first: Tensor<4>,
    steps: i32,
}
common_weakness::snapshot_fields!(Two { first, steps });

#[test]
fn a_saved_state_is_read_by_field_name_and_a_missing_field_is_named() {
    use common_weakness::snapshot::{Saved, Snapshot};
    let device = crate::common::device();
    let state = Two { first: images(1, [1, 1, 2, 2], 0.0, 1.0), steps: 4 };
    let Saved::Fields(mut fields) = state.save() else { panic!("a struct saves its fields by name") };
    let back = Two::load(&Saved::Fields(fields.clone()), &device).unwrap();
    assert_eq!((values(back.first), back.steps), (values(state.first), 4));
    let mut extra = fields.clone();
    extra.insert("stepz".into(), Saved::Integer(4));
    let unexpected = Two::load(&Saved::Fields(extra), &device).map(|_| ());
    fields.remove("steps");
    let missing = Two::load(&Saved::Fields(fields), &device).map(|_| ());
    assert!(matches!(&missing, Err(Error::InvalidCheckpoint(m)) if m.contains("`steps`")), "{missing:?}");
    assert!(matches!(&unexpected, Err(Error::InvalidCheckpoint(m)) if m.contains("`stepz`")), "{unexpected:?}");
}
