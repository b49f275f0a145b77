//! A property-based hostile-input test over the public API: generated attack specs (every
//! attack of the registry, read from JSON), threat models, ensembles with adversarial toy
//! models (NaN outputs, infinite gradients, constant outputs, wrong shapes, one class, huge
//! logits), objectives, weights and images, with settings drawn from wide ranges including
//! NaN, ±∞, 0, subnormals and values that overflow f32.
//!
//! Every case must end in one of two ways, never in a panic or a hang:
//! - `Ok`, with adversarial images of the input's shape that are finite, in `[0, 1]` and in
//!   the budget, and a summed objective no worse than at the clean images (within a
//!   tolerance, see `check`);
//! - a typed `Err` whose message names one of the things the case made hostile (a setting, a
//!   model, the labels, the pixels, the batch).

use std::panic::{catch_unwind, AssertUnwindSafe};

use burn::tensor::Tensor;
use common_weakness::attack::{registry_at, AttackConfig, AttackSpec};
use common_weakness::prelude::*;
use common_weakness::surrogate::{from_fn, Surrogate};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::common::{mlp, tensor4, values};
use crate::common::StopAfter;

/// Settings a careful user would pick.
const NORMAL: [f64; 5] = [0.01, 0.03, 0.1, 0.5, 2.0];
/// Zero, negative, non-finite, subnormal, rounding to zero in f32, overflowing f32, huge.
const HOSTILE: [f64; 12] =
    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.1, 1e-310, 1e-50, 1e-45, 1e30, 1e39, 1e300, f64::MAX];

fn setting() -> impl Strategy<Value = f64> {
    prop_oneof![3 => prop::sample::select(NORMAL.to_vec()), 1 => prop::sample::select(HOSTILE.to_vec())]
}

fn is_hostile(value: f64) -> bool {
    !NORMAL.contains(&value)
}

/// A setting as JSON, non-finite values as the crate writes them.
fn json_setting(value: f64) -> Value {
    match value {
        v if v.is_nan() => json!("NaN"),
        v if v == f64::INFINITY => json!("inf"),
        v if v == f64::NEG_INFINITY => json!("-inf"),
        v => json!(v),
    }
}

/// The toy models an ensemble is drawn from; all but `Mlp` and `Constant` are hostile.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Toy {
    /// A random tanh MLP, 4 pixels → 3 classes.
    Mlp(u64),
    /// The same logits for every image: a zero gradient.
    Constant,
    /// NaN logits.
    NanOut,
    /// `[Σ√x, −Σ√x, 0]`: an infinite gradient wherever a pixel is 0.
    Root,
    /// 4 classes where the others have 3.
    Wide,
    /// One row whatever the batch size.
    Rows,
    /// One logit.
    OneLogit,
    /// An MLP whose logits are scaled by 1e30.
    Huge,
}

impl Toy {
    fn name(self) -> String {
        match self {
            Toy::Mlp(seed) => format!("mlp{seed}"),
            Toy::Constant => "constant".into(),
            Toy::NanOut => "nan-out".into(),
            Toy::Root => "root".into(),
            Toy::Wide => "wide".into(),
            Toy::Rows => "rows".into(),
            Toy::OneLogit => "one-logit".into(),
            Toy::Huge => "huge".into(),
        }
    }

    fn is_hostile(self) -> bool {
        !matches!(self, Toy::Mlp(_) | Toy::Constant)
    }

    fn build(self) -> Box<dyn Surrogate> {
        let name = self.name();
        let logits = |x: Tensor<4>, values: [f32; 3]| {
            let n = x.dims()[0];
            Tensor::<2>::from_floats([values], &x.device()).repeat_dim(0, n)
        };
        match self {
            Toy::Mlp(seed) => mlp(&name, seed, 4, 8, 3),
            Toy::Huge => {
                let inner = mlp(&name, 7, 4, 8, 3);
                Box::new(from_fn(name, move |x: Tensor<4>| inner.forward(x).mul_scalar(1e30)))
            }
            Toy::Wide => mlp(&name, 8, 4, 8, 4),
            Toy::Constant => Box::new(from_fn(name, move |x: Tensor<4>| logits(x, [1.0, 0.0, -1.0]))),
            Toy::NanOut => Box::new(from_fn(name, move |x: Tensor<4>| logits(x, [f32::NAN; 3]))),
            Toy::Rows => Box::new(from_fn(name, move |x: Tensor<4>| x.flatten::<2>(1, 3).slice([0..1, 0..3]))),
            Toy::OneLogit => Box::new(from_fn(name, |x: Tensor<4>| x.flatten::<2>(1, 3).sum_dim(1))),
            Toy::Root => Box::new(from_fn(name, |x: Tensor<4>| {
                let s = x.sqrt().flatten::<2>(1, 3).sum_dim(1);
                Tensor::cat(vec![s.clone(), s.clone().neg(), s.zeros_like()], 1)
            })),
        }
    }
}

fn toy() -> impl Strategy<Value = Toy> {
    prop_oneof![
        6 => (0u64..4).prop_map(Toy::Mlp),
        1 => Just(Toy::Constant),
        1 => Just(Toy::NanOut),
        1 => Just(Toy::Root),
        1 => Just(Toy::Wide),
        1 => Just(Toy::Rows),
        1 => Just(Toy::OneLogit),
        1 => Just(Toy::Huge),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Loss {
    Untargeted,
    Targeted,
    Margin(f64),
    FeatureDistortion,
    EmbeddingMatch,
}

fn loss() -> impl Strategy<Value = Loss> {
    prop_oneof![
        3 => Just(Loss::Untargeted),
        1 => Just(Loss::Targeted),
        1 => setting().prop_map(Loss::Margin),
        1 => Just(Loss::FeatureDistortion),
        1 => Just(Loss::EmbeddingMatch),
    ]
}

/// One generated case.
#[derive(Clone, Debug)]
struct Case {
    attack: usize,
    norm: Norm,
    budget: f64,
    iterations: usize,
    /// One more float setting of the spec (by position among its float fields) and its value.
    field: (usize, f64),
    models: Vec<Toy>,
    weights: Option<Vec<f64>>,
    combination: Combination,
    order: VisitOrder,
    loss: Loss,
    /// Images in the batch, and an extra (wrong) label if set.
    batch: usize,
    extra_label: bool,
    /// Label of each image (3 is out of range for most models).
    labels: Vec<usize>,
    pixels: Vec<f32>,
    /// A hostile pixel value and where to put it.
    bad_pixel: Option<(usize, f32)>,
}

fn case() -> impl Strategy<Value = Case> {
    let spec = (
        0..registry_at(ThreatModel::linf(0.1)).len(),
        prop::sample::select(vec![Norm::Linf, Norm::L2]),
        setting(),
        prop::sample::select(vec![0, 1, 2, 3, usize::MAX]),
        (0usize..8, setting()),
    );
    let ensemble = (
        prop::collection::vec(toy(), 1..4),
        prop::option::weighted(0.25, prop::collection::vec(prop_oneof![setting(), Just(0.0)], 1..4)),
        prop::sample::select(vec![Combination::LogitMean, Combination::LogitSum, Combination::LossMean]),
        prop::sample::select(vec![VisitOrder::Fixed, VisitOrder::Shuffled, VisitOrder::Random]),
    );
    let data = (
        loss(),
        prop_oneof![1 => Just(0usize), 8 => 1usize..3],
        prop::bool::weighted(0.05),
        prop::collection::vec(prop_oneof![12 => 0usize..3, 1 => Just(3usize)], 2),
        prop::collection::vec(
            prop_oneof![4 => 0.0f32..1.0, 1 => Just(0.0f32), 1 => Just(1.0f32), 1 => Just(1e-40f32)],
            8,
        ),
        prop::option::weighted(
            0.1,
            (0usize..8, prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.5, -0.5])),
        ),
    );
    (spec, ensemble, data).prop_map(
        |(
            (attack, norm, budget, iterations, field),
            (models, weights, combination, order),
            (loss, batch, extra_label, labels, pixels, bad_pixel),
        )| Case {
            attack,
            norm,
            budget,
            iterations,
            field,
            models,
            weights,
            combination,
            order,
            loss,
            batch,
            extra_label,
            labels,
            pixels,
            bad_pixel,
        },
    )
}

/// What a case made hostile: the words an error may name.
struct Faults(Vec<String>);

impl Faults {
    fn add(&mut self, hostile: bool, words: &[&str]) {
        if hostile {
            self.0.extend(words.iter().map(|w| w.to_string()));
        }
    }
}

/// The spec of the case, with its float fields as the generator set them; and the faults.
fn spec(case: &Case, faults: &mut Faults) -> AttackSpec {
    let threat = ThreatModel { norm: case.norm, budget: 0.1 };
    let mut spec = serde_json::to_value(&registry_at(threat)[case.attack].defaults).unwrap();
    spec["threat"]["budget"] = json_setting(case.budget);
    faults.add(is_hostile(case.budget), &["budget"]);
    if spec.get("iterations").is_some() {
        spec["iterations"] = json!(case.iterations);
        faults.add(case.iterations == 0, &["iterations"]);
    }
    let floats: Vec<String> =
        spec.as_object().unwrap().iter().filter(|(_, v)| v.is_f64()).map(|(k, _)| k.clone()).collect();
    if !floats.is_empty() {
        let (index, value) = case.field;
        let name = &floats[index % floats.len()];
        spec[name] = json_setting(value);
        // A CWA `inner_step_size` is the inner optimizer's `step_size`, and so on.
        let role = format!("{} optimizer", name.trim_end_matches("_step_size"));
        faults.add(is_hostile(value), &[name, &role]);
    }
    serde_json::from_value(spec).expect("a spec with any float settings reads back")
}

/// The spec's attack with the case's combination rule and visiting order, where it has them.
fn composed(spec: &AttackSpec, case: &Case) -> AttackConfig {
    let mut config = spec.config();
    match &mut config {
        AttackConfig::Cwa(cwa) => {
            cwa.settings.combination = case.combination;
            cwa.settings.order = case.order;
        }
        AttackConfig::Rap(rap) => rap.config.combination = case.combination,
        AttackConfig::Svre(svre) => svre.config.order = case.order,
        // SMER visits the models in shuffled sweeps and combines logits by its own weights.
        AttackConfig::Smer(_) => {}
    }
    config
}

fn ensemble(case: &Case, faults: &mut Faults) -> Result<Ensemble> {
    for toy in &case.models {
        faults.add(toy.is_hostile(), &[&format!("`{}`", toy.name())]);
    }
    let ensemble = Ensemble::new(case.models.iter().map(|t| t.build()).collect())?;
    match &case.weights {
        Some(weights) => {
            faults.add(true, &["weight"]);
            ensemble.with_weights(weights.clone())
        }
        None => Ok(ensemble),
    }
}

fn objective(case: &Case, faults: &mut Faults) -> Objective {
    let mut labels = case.labels[..case.batch].to_vec();
    if case.extra_label {
        labels.push(0);
    }
    let uses_labels = !matches!(case.loss, Loss::FeatureDistortion | Loss::EmbeddingMatch);
    faults.add(uses_labels && (case.extra_label || labels.contains(&3)), &["label"]);
    match case.loss {
        Loss::Untargeted => Objective::untargeted(labels),
        Loss::Targeted => Objective::targeted(labels),
        Loss::Margin(confidence) => {
            faults.add(is_hostile(confidence), &["confidence"]);
            Objective::untargeted(labels).with_loss(LossKind::Margin { confidence })
        }
        Loss::FeatureDistortion => {
            faults.add(true, &["random_start"]);
            Objective::feature_distortion()
        }
        // One target image for the whole batch.
        Loss::EmbeddingMatch => Objective::embedding_match(tensor4(vec![0.7; 4], [1, 1, 2, 2])),
    }
}

fn images(case: &Case, faults: &mut Faults) -> Tensor<4> {
    let mut pixels = case.pixels[..4 * case.batch].to_vec();
    faults.add(case.batch == 0, &["empty"]);
    if let Some((index, value)) = case.bad_pixel {
        if index < pixels.len() {
            pixels[index] = value;
            faults.add(true, &["pixels"]);
        }
    }
    tensor4(pixels, [case.batch, 1, 2, 2])
}

/// How a case ended, when it kept the property.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Valid adversarial images.
    Attacked,
    /// An error naming one of the case's faults.
    Refused(String),
}

/// Runs one case; `Err` with a description when it breaks the property.
fn check(case: &Case) -> std::result::Result<Outcome, String> {
    let mut faults = Faults(Vec::new());
    let attempt = catch_unwind(AssertUnwindSafe(|| -> Result<_> {
        let spec = spec(case, &mut faults);
        let ensemble = ensemble(case, &mut faults)?;
        let objective = objective(case, &mut faults);
        let x = images(case, &mut faults);
        let attack = composed(&spec, case).build();
        let outcome = attack.run_observed(&ensemble, x.clone(), &objective, &mut StopAfter::new(3))?;
        Ok((spec, x, outcome))
    }));
    let (spec, x, outcome) = match attempt {
        Err(_) => return Err("panicked".into()),
        Ok(Err(error)) => {
            let message = error.to_string();
            // A setting that overflows f32 only mid-run, or a model with an infinite gradient,
            // ends in a non-finite step: its error names the stage and the usual causes.
            let named = faults.0.iter().any(|f| message.contains(f.as_str()))
                || (matches!(error, Error::NonFiniteStep { .. }) && !faults.0.is_empty());
            return match named {
                true => Ok(Outcome::Refused(message)),
                false => Err(format!("error `{message}` names none of the faults {:?}", faults.0)),
            };
        }
        Ok(Ok(done)) => done,
    };
    let threat: ThreatModel = serde_json::from_value(serde_json::to_value(&spec).unwrap()["threat"].clone()).unwrap();
    if outcome.adversarial.dims() != x.dims() {
        return Err(format!("output shape {:?} for input {:?}", outcome.adversarial.dims(), x.dims()));
    }
    let adversarial = values(outcome.adversarial.clone());
    if let Some(v) = adversarial.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(format!("output pixel {v} is not in [0, 1]"));
    }
    let clean = values(x);
    let budget = threat.budget as f32;
    for (image, (a, c)) in adversarial.chunks(4).zip(clean.chunks(4)).enumerate() {
        let delta: Vec<f32> = a.iter().zip(c).map(|(a, c)| a - c).collect();
        let size = match threat.norm {
            Norm::Linf => delta.iter().fold(0.0f32, |m, d| m.max(d.abs())),
            Norm::L2 => delta.iter().map(|d| d * d).sum::<f32>().sqrt(),
        };
        if size > budget * (1.0 + 1e-5) + 1e-6 {
            return Err(format!("image {image} moved {size} beyond the budget {budget}"));
        }
    }
    // The attacks descend the *combined* objective, some from a random start (PGD), some on
    // sampled or smoothed gradients (VMI, SSA, TI) or after an ascent step (CWA, SAM), so the
    // sum of the models' own objectives is not monotone: it may rise a little, never by more
    // than a quarter of its size (plus 0.25). With a budget as large as the pixel range, sign
    // steps jump between corners of [0, 1] and may overshoot further, as may a generated step
    // larger than the budget, or a reverse (ascent) step larger than the outer step. Cases with
    // a fault (a model scaling its logits by 1e30, weights of 0) need only end in valid images,
    // and so does embedding matching: its optimum is a finite point, which a fixed-size step
    // near it overshoots (its descent is tested in `encoders.rs`).
    let settings = serde_json::to_value(&spec).unwrap();
    let setting = |name: &str| settings.get(name).and_then(Value::as_f64);
    let step = setting("step_size").unwrap_or(0.0);
    let overshoots = step > case.budget
        || setting("reverse_step_size").is_some_and(|r| r > step)
        || matches!(case.loss, Loss::EmbeddingMatch);
    let (before, after): (f64, f64) = (outcome.initial_loss.iter().sum(), outcome.final_loss.iter().sum());
    if faults.0.is_empty() && case.budget <= 0.1 && !overshoots && after > before + 0.25 * before.abs() + 0.25 {
        return Err(format!("the objective got worse: {before} -> {after}"));
    }
    Ok(Outcome::Attacked)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_ends_in_a_valid_result_or_an_error_naming_the_fault(case in case()) {
        if let Err(problem) = check(&case) {
            prop_assert!(false, "{problem}");
        }
    }
}

#[test]
fn the_property_tells_results_refusals_and_blame_apart() {
    let clean = Case {
        attack: 3,
        norm: Norm::Linf,
        budget: 0.1,
        iterations: 2,
        field: (0, 0.5),
        models: vec![Toy::Mlp(0), Toy::Mlp(1)],
        weights: None,
        combination: Combination::LogitMean,
        order: VisitOrder::Fixed,
        loss: Loss::Untargeted,
        batch: 2,
        extra_label: false,
        labels: vec![0, 1],
        pixels: vec![0.3; 8],
        bad_pixel: None,
    };
    assert_eq!(check(&clean), Ok(Outcome::Attacked));
    let nan_model = Case { models: vec![Toy::Mlp(0), Toy::NanOut], ..clean.clone() };
    assert!(matches!(check(&nan_model), Ok(Outcome::Refused(m)) if m.contains("`nan-out`")));
    let nan_budget = Case { budget: f64::NAN, ..clean.clone() };
    assert!(matches!(check(&nan_budget), Ok(Outcome::Refused(m)) if m.contains("budget")));
    // An error that blames something the case did not make hostile breaks the property.
    let innocent = Case { labels: vec![0, 3], models: vec![Toy::Mlp(0), Toy::Wide], ..clean };
    assert!(matches!(check(&innocent), Ok(Outcome::Refused(_))));
}
