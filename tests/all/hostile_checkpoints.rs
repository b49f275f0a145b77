//! Hostile checkpoints and sizes: a checkpoint edited by hand (or corrupted) is either resumed
//! to a valid result or refused with a typed error naming the field; sizes the user controls
//! are bounded before anything is allocated.
//!
//! The property test takes real checkpoints (per-image runs of MI-FGSM and VMI-CWA, a
//! universal run of MI-CWA, each stopped by a time limit) and edits one value or list of
//! their JSON: a number becomes 0, −1, 9, 10¹⁸ or 2⁶⁴ − 1; a list loses its last item, gets
//! it twice or is emptied. Resuming must then end in a result that is finite, in `[0, 1]` and
//! in the budget, or in a typed error; never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, Checkpoints, Cwa, CwaConfig, Executor, Iterate};
use common_weakness::gradient::GaussianSmoothing;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::universal::{Batch, Patch, Placement, Universal, UniversalVariable};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::{images, mlp_ensemble, values};

const BUDGET: f64 = 0.1;

fn untargeted(batch: &Batch) -> Objective {
    Objective::untargeted(batch.labels.clone().unwrap())
}

/// Two batches of 2 images 1×2×2.
fn dataset() -> Vec<Batch> {
    (0..2).map(|i| Batch::labelled(images(40 + i, [2, 1, 2, 2], 0.2, 0.8), vec![0, 1])).collect()
}

fn path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("cw-hostile-{}-{name}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The kinds of run whose checkpoints are attacked.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Per-image MI-FGSM (a momentum state), stopped inside the second batch.
    MiFgsm,
    /// Per-image VMI-CWA (VMI memories filled during the run), stopped inside the first batch.
    VmiCwa,
    /// Universal MI-CWA, stopped inside the second epoch.
    Universal,
}

/// Runs `kind` with checkpoints at `file`, `limit` iterations at a time (a zero time limit
/// stops after each iteration; `None` runs to the end). Returns the result's values (images
/// or universal variable) with their clean reference, or the error.
fn run(kind: Kind, file: &Path, calls: usize) -> Result<Vec<(f32, f32)>> {
    let ensemble = mlp_ensemble(2, 4, 2);
    let batches = dataset();
    let checkpoints = Checkpoints { path: file.to_path_buf(), every: 1 };
    let mut last = None;
    for _ in 0..calls {
        let executor = Executor::new().with_checkpoints(checkpoints.clone()).with_time_limit(Duration::ZERO);
        last = Some(match kind {
            Kind::MiFgsm => per_image(executor, &mi_fgsm(ThreatModel::linf(BUDGET), 3, 1.0), &ensemble, &batches)?,
            Kind::VmiCwa => {
                let attack = Cwa::vmi_cwa(CwaConfig::paper(BUDGET).with_iterations(3));
                per_image(executor, &attack, &ensemble, &batches)?
            }
            Kind::Universal => {
                let universal = Universal::new(UniversalVariable::Perturbation, 2);
                let attack = Cwa::mi_cwa(CwaConfig::paper(BUDGET));
                let outcome = executor.universal(&universal, &attack, &ensemble, &batches, &untargeted)?;
                values(outcome.variable).into_iter().map(|v| (v, 0.0)).collect()
            }
        });
    }
    Ok(last.expect("at least one call"))
}

fn per_image<A: Iterate>(
    executor: Executor,
    attack: &A,
    ensemble: &Ensemble,
    batches: &[Batch],
) -> Result<Vec<(f32, f32)>> {
    let outcome = executor.per_image(attack, ensemble, batches, &untargeted)?;
    let clean = Tensor::cat(batches.iter().take(outcome.batches.len()).map(|b| b.images.clone()).collect(), 0);
    Ok(values(outcome.adversarial()).into_iter().zip(values(clean)).collect())
}

/// A real checkpoint of `kind`, stopped after `calls` iterations.
fn checkpoint(kind: Kind, calls: usize) -> (PathBuf, Value) {
    let file = path(&format!("{kind:?}-{calls}"));
    run(kind, &file, calls).unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    (file, json)
}

/// Every number and every list in `value`, depth first, with the path to it.
fn places(value: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    match value {
        Value::Number(_) => out.push((at.clone(), false)),
        Value::Array(items) => {
            out.push((at.clone(), true));
            for (i, item) in items.iter().enumerate() {
                at.push(i.to_string());
                places(item, at, out);
                at.pop();
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                at.push(name.clone());
                places(field, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(value, |v, key| match v {
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}

/// The numbers an edit puts in.
const NUMBERS: [f64; 5] = [0.0, -1.0, 9.0, 1e18, 18446744073709551615.0];

/// Where an edit lands: the records and descriptions hold most of a checkpoint's numbers, so
/// the saved tensors, and among them the iterates and finished images, get their own share.
#[derive(Clone, Copy, Debug)]
enum Target {
    Iterates,
    Tensors,
    Anywhere,
}

/// Edits place `choice` (modulo the number of places within `target`) of `json` with edit
/// `edit`.
fn edit(json: &Value, target: Target, choice: usize, edit: usize) -> (Value, String) {
    let mut places_found = Vec::new();
    places(json, &mut Vec::new(), &mut places_found);
    let within = |place: &Vec<String>, keys: &[&str]| place.iter().any(|key| keys.contains(&key.as_str()));
    places_found.retain(|(place, _)| match target {
        Target::Iterates => within(place, &["tensor"]) && within(place, &["v", "adversarial"]),
        Target::Tensors => within(place, &["tensor"]),
        Target::Anywhere => true,
    });
    let (place, is_list) = &places_found[choice % places_found.len()];
    let mut edited = json.clone();
    let target = at(&mut edited, place);
    let what = if *is_list {
        let Value::Array(items) = target else { unreachable!() };
        match edit % 3 {
            0 => {
                items.pop();
                "dropped the last item"
            }
            1 => {
                if let Some(last) = items.last().cloned() {
                    items.push(last);
                }
                "doubled the last item"
            }
            _ => {
                items.clear();
                "emptied"
            }
        }
        .to_string()
    } else {
        let number = NUMBERS[edit % NUMBERS.len()];
        *target = match number {
            n if n < 0.0 => serde_json::json!(-1),
            n if n == n.trunc() && n < 1e19 => serde_json::json!(n as u64),
            n => serde_json::json!(n),
        };
        format!("set to {number}")
    };
    (edited, format!("{} {what}", place.join(".")))
}

/// A result is valid when every value is finite, in [0, 1] for images, and within the budget
/// of its clean value.
fn valid(kind: Kind, result: &[(f32, f32)]) -> bool {
    result.iter().all(|&(v, clean)| {
        let in_budget = (v - clean).abs() <= BUDGET as f32 + 1e-6;
        let in_range = matches!(kind, Kind::Universal) || (0.0..=1.0).contains(&v);
        v.is_finite() && in_budget && in_range
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_edited_checkpoint_resumes_to_a_valid_result_or_a_typed_error(
        kind in prop::sample::select(vec![Kind::MiFgsm, Kind::VmiCwa, Kind::Universal]),
        target in prop::sample::select(vec![Target::Iterates, Target::Tensors, Target::Anywhere]),
        choice in any::<usize>(),
        how in 0usize..15,
    ) {
        let calls = match kind { Kind::MiFgsm => 4, Kind::VmiCwa => 2, Kind::Universal => 3 };
        let (file, json) = checkpoint(kind, calls);
        let (edited, what) = edit(&json, target, choice, how);
        std::fs::write(&file, serde_json::to_string(&edited).unwrap()).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| run(kind, &file, 12)));
        let _ = std::fs::remove_file(&file);
        match outcome {
            Err(_) => prop_assert!(false, "{kind:?}, {what}: panicked"),
            Ok(Ok(result)) => prop_assert!(valid(kind, &result), "{kind:?}, {what}: an invalid result"),
            Ok(Err(error)) => prop_assert!(
                matches!(error, Error::InvalidCheckpoint(_)),
                "{kind:?}, {what}: {error} is not a checkpoint error"
            ),
        }
    }
}

/// Rewrites the checkpoint at `file` with `change` applied to its JSON.
fn rewrite(file: &Path, change: impl FnOnce(&mut Value)) {
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    change(&mut json);
    std::fs::write(file, serde_json::to_string(&json).unwrap()).unwrap();
}

/// The first saved tensor in `value`, depth first.
fn first_tensor(value: &mut Value) -> Option<&mut Value> {
    if value.get("tensor").is_some() {
        return value.get_mut("tensor");
    }
    match value {
        Value::Object(fields) => fields.values_mut().find_map(first_tensor),
        Value::Array(items) => items.iter_mut().find_map(first_tensor),
        _ => None,
    }
}

fn refused(result: Result<Vec<(f32, f32)>>, field: &str) {
    match result {
        Err(Error::InvalidCheckpoint(message)) => assert!(message.contains(field), "{message} does not name {field}"),
        other => panic!("expected a checkpoint error naming {field}, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_whose_iterate_shape_was_edited_is_refused_naming_it() {
    let (file, _) = checkpoint(Kind::MiFgsm, 4);
    rewrite(&file, |json| json["progress"]["current"]["v"]["tensor"]["shape"] = serde_json::json!([2, 1, 1, 4]));
    refused(run(Kind::MiFgsm, &file, 1), "`v`");
}

#[test]
fn a_finished_checkpoint_with_an_edited_value_is_refused_not_returned_unprojected() {
    let (file, _) = checkpoint(Kind::MiFgsm, 12);
    rewrite(&file, |json| json["progress"]["done"][1]["adversarial"]["tensor"]["values"][0] = serde_json::json!(9.0));
    refused(run(Kind::MiFgsm, &file, 1), "done[1].adversarial");
    let (file, _) = checkpoint(Kind::Universal, 12);
    rewrite(&file, |json| json["progress"]["cursor"]["v"]["tensor"]["values"][0] = serde_json::json!(9.0));
    refused(run(Kind::Universal, &file, 1), "`v`");
}

#[test]
fn a_momentum_state_of_the_wrong_shape_is_refused_naming_the_field() {
    let (file, _) = checkpoint(Kind::MiFgsm, 4);
    rewrite(&file, |json| {
        let momentum = first_tensor(&mut json["progress"]["current"]["state"]["fields"]["outer"]).expect("a tensor");
        *momentum = serde_json::json!({"shape": [1, 1, 1, 1], "values": [0.0]});
    });
    refused(run(Kind::MiFgsm, &file, 1), "state.outer");
}

#[test]
fn a_universal_checkpoint_with_more_epochs_than_asked_is_refused_naming_epochs() {
    let file = path("three-epochs");
    let ensemble = mlp_ensemble(2, 4, 2);
    let attack = Cwa::mi_cwa(CwaConfig::paper(BUDGET));
    let train = |epochs| {
        Executor::new().with_checkpoints(Checkpoints { path: file.clone(), every: 1 }).universal(
            &Universal::new(UniversalVariable::Perturbation, epochs),
            &attack,
            &ensemble,
            &dataset(),
            &untargeted,
        )
    };
    train(3).unwrap();
    match train(1) {
        Err(Error::InvalidCheckpoint(message)) => assert!(message.contains("`epochs` = 1"), "{message}"),
        other => panic!("expected a checkpoint error naming epochs, got {:?}", other.map(|o| o.epoch_losses)),
    }
    // Asking for more epochs extends the finished run.
    assert_eq!(train(4).unwrap().epoch_losses.len(), 4);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn sizes_the_user_controls_are_bounded_before_allocation() {
    let batch = Batch::labelled(images(1, [1, 1, 8, 8], 0.0, 1.0), vec![0]);
    // A fixed placement whose corner overflows usize.
    let far = Patch::new(2, 2, Placement::Fixed { top: usize::MAX, left: 0 });
    let universal = Universal::new(UniversalVariable::Patch(far), 1);
    let attack = Cwa::mi_cwa(CwaConfig::paper(BUDGET));
    let trained = universal.train(&attack, &mlp_ensemble(1, 64, 2), std::slice::from_ref(&batch), &untargeted);
    assert!(matches!(trained, Err(Error::InvalidDataset { batch: 0, .. })), "{:?}", trained.err());
    // A variable of another size than the batch needs.
    let variable = UniversalVariable::Perturbation;
    let wrong = Tensor::<4>::zeros([1, 1, 4, 4], &Default::default());
    let applied = variable.apply_to(wrong, &batch, &mut AttackRng::new(0));
    assert!(matches!(applied, Err(Error::Shape { what: "universal variable", .. })), "{:?}", applied.err());
    // A TI kernel far beyond any paper's.
    let huge = GaussianSmoothing { kernel_size: 100_001, sigma: 3.0 };
    assert!(matches!(huge.validate(), Err(Error::InvalidParameter { name: "kernel_size", .. })));
    let largest = GaussianSmoothing { kernel_size: GaussianSmoothing::MAX_KERNEL_SIZE, sigma: 3.0 };
    assert!(largest.validate().is_ok());
}
