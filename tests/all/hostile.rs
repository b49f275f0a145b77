//! Hostile input: no NaN or infinity becomes a step, settings that do not survive f32 are
//! refused, errors name their first cause and the optimizer role, typos in configurations are
//! refused, and absurd iteration counts do not panic.

use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, AttackSpec, CwaConfig, Rap, RapConfig, Svre, SvreConfig};
use common_weakness::gradient::GradientEstimator;
use common_weakness::optim::{Momentum, Sgd};
use common_weakness::prelude::*;
use common_weakness::surrogate::{from_fn, Surrogate};
use common_weakness::Stage;

use super::common::{images, mlp_ensemble, tensor4};
use crate::common::StopAfter;

/// Logits `[Σ√x, −Σ√x]`: finite at a black pixel, with an infinite input gradient there.
fn square_root_model(name: &str) -> Box<dyn Surrogate> {
    Box::new(from_fn(name, |x: Tensor<4>| {
        let s = x.sqrt().flatten::<2>(1, 3).sum_dim(1);
        Tensor::cat(vec![s.clone(), s.neg()], 1)
    }))
}

/// A batch with one black pixel, where the square-root model's gradient is infinite.
fn black_pixel() -> Tensor<4> {
    tensor4(vec![0.0, 0.5, 0.5, 0.5], [1, 1, 2, 2])
}

#[test]
fn an_infinite_gradient_stops_the_attack_naming_the_stage_instead_of_stepping() {
    let objective = Objective::untargeted(vec![0]);
    // MI-FGSM: the gradient goes straight to the outer step (burn-ndarray's sign(NaN) is −1,
    // so unchecked this was a full step and a "successful" run).
    let ensemble = Ensemble::new(vec![square_root_model("root")]).unwrap();
    let e = mi_fgsm(ThreatModel::linf(0.1), 3, 1.0).run(&ensemble, black_pixel(), &objective).unwrap_err();
    assert!(
        matches!(e, Error::NonFiniteStep { stage: Stage::Outer, quantity: "gradient", iteration: 1, ref culprit } if culprit.as_deref() == Some("root")),
        "{e}"
    );
    assert!(e.to_string().contains("outer step at iteration 1 is not finite (NaN or infinite): model `root`"), "{e}");

    // MI-CWA: the reverse step sees it first; without a reverse step, the inner step on the
    // model at fault does, and names it.
    let ensemble = Ensemble::new(vec![mlp_ensemble_member(), square_root_model("root")]).unwrap();
    let mi_cwa = Cwa::mi_cwa(CwaConfig::paper(0.1));
    let e = mi_cwa.run(&ensemble, black_pixel(), &objective).unwrap_err();
    assert!(
        matches!(e, Error::NonFiniteStep { stage: Stage::Reverse, ref culprit, .. } if culprit.as_deref() == Some("root")),
        "{e}"
    );
    let e = Cwa::mi_cwa(CwaConfig::paper(0.1)).without_reverse().run(&ensemble, black_pixel(), &objective).unwrap_err();
    assert!(matches!(e, Error::NonFiniteStep { stage: Stage::Inner { ref model }, .. } if model == "root"), "{e}");
    assert!(e.to_string().contains("inner step on model `root`"), "{e}");

    // SVRE's inner and outer steps and RAP's reverse steps go through the same guard.
    let svre = Svre::new(SvreConfig::paper(ThreatModel::linf(0.1)));
    assert!(matches!(svre.run(&ensemble, black_pixel(), &objective), Err(Error::NonFiniteStep { .. })));
    let rap = Rap::new(RapConfig { late_start: 0, ..RapConfig::paper(ThreatModel::linf(0.1)) });
    let e = rap.run(&ensemble, black_pixel(), &objective).unwrap_err();
    assert!(
        matches!(e, Error::NonFiniteStep { stage: Stage::Reverse, ref culprit, .. } if culprit.as_deref() == Some("root")),
        "{e}"
    );
}

fn mlp_ensemble_member() -> Box<dyn Surrogate> {
    super::common::mlp("mlp", 1, 4, 3, 2)
}

#[test]
fn a_huge_but_finite_gradient_still_steps_along_its_direction() {
    // Its sum of squares overflows f32: a naive L2 normalisation gives ∞ and a zero step.
    let huge = from_fn("huge", |x: Tensor<4>| {
        let s = x.flatten::<2>(1, 3).sum_dim(1).mul_scalar(1e30);
        Tensor::cat(vec![s.clone(), s.neg()], 1)
    });
    let ensemble = Ensemble::new(vec![Box::new(huge) as Box<dyn Surrogate>]).unwrap();
    let mut attack = mi_fgsm(ThreatModel::l2(0.5), 2, 1.0);
    attack.outer = Momentum { normalize: common_weakness::norm::Normalization::L2, ..attack.outer };
    let outcome = attack.run(&ensemble, images(3, [1, 1, 2, 2], 0.4, 0.6), &Objective::untargeted(vec![1])).unwrap();
    let moved = outcome.records.last().unwrap().perturbation_l2;
    assert!((moved - 0.5).abs() < 1e-3, "two L2 steps of 0.25 along the gradient: moved {moved}");
}

#[test]
fn settings_that_do_not_survive_f32_are_refused_by_name() {
    let ensemble = mlp_ensemble(2, 4, 3);
    let x = images(1, [1, 1, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0]);
    // A budget finite in f64 that rounds to 0 in f32 was a silent no-op.
    let e = mi_fgsm(ThreatModel::linf(1e-50), 2, 1.0).run(&ensemble, x.clone(), &objective).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "budget", .. }), "{e}");
    // A momentum that overflows f32 made `momentum × 0` a NaN.
    let e = mi_fgsm(ThreatModel::linf(0.1), 2, 1e300).run(&ensemble, x.clone(), &objective).unwrap_err();
    assert!(
        matches!(&e, Error::Optimizer { role: "outer", source } if matches!(**source, Error::InvalidParameter { name: "momentum", .. })),
        "{e}"
    );
    assert!(e.to_string().starts_with("the outer optimizer: invalid parameter `momentum`"), "{e}");
    // A TI sigma that underflows made a NaN kernel.
    let ti = GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1e-300 });
    let e = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_gradient(ti).run(&ensemble, x, &objective).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "sigma", .. }), "{e}");
}

#[test]
fn errors_name_the_first_cause_and_the_optimizer_role() {
    let ensemble = mlp_ensemble(2, 4, 3);
    let x = images(1, [1, 1, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0]);
    // A NaN budget is reported as the budget, not as the step size derived from it.
    for attack in [
        Box::new(Cwa::mi_cwa(CwaConfig::paper(f64::NAN))) as Box<dyn Attack>,
        Box::new(Svre::new(SvreConfig::paper(ThreatModel::linf(f64::NAN)))),
        Box::new(mi_fgsm(ThreatModel::linf(-1.0), 2, 1.0)),
    ] {
        let e = attack.run(&ensemble, x.clone(), &objective).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "budget", .. }), "{}: {e}", attack.name());
    }
    // A bad step size says which optimizer it belongs to.
    let mut attack = Cwa::mi_cwa(CwaConfig::paper(0.1));
    attack.reverse = Some(Sgd::sign(f64::NAN));
    let e = attack.run(&ensemble, x.clone(), &objective).unwrap_err();
    assert!(matches!(&e, Error::Optimizer { role: "reverse", .. }), "{e}");
    let mut attack = Cwa::mi_cwa(CwaConfig::paper(0.1));
    attack.inner = Some(Momentum::mi(0.0, 0.9));
    let e = attack.run(&ensemble, x, &objective).unwrap_err();
    assert!(e.to_string().starts_with("the inner optimizer: invalid parameter `step_size`"), "{e}");
}

#[test]
fn typos_in_configurations_are_refused() {
    let spec =
        r#"{"attack": "mi-fgsm", "threat": {"norm": "Linf", "budget": 0.03}, "iterations": 10, "momentum": 1.0}"#;
    assert!(serde_json::from_str::<AttackSpec>(spec).is_ok());
    let typo = r#"{"attack": "mi-fgsm", "threat": {"norm": "Linf", "budget": 0.03}, "iterations": 10, "momentum": 1.0, "sed": 3}"#;
    let e = serde_json::from_str::<AttackSpec>(typo).unwrap_err();
    assert!(e.to_string().contains("sed"), "{e}");
    let e = serde_json::from_str::<ThreatModel>(r#"{"norm": "Linf", "budgett": 0.03}"#).unwrap_err();
    assert!(e.to_string().contains("budgett"), "{e}");
    let e = serde_json::from_str::<GradientEstimator>(r#"{"smothing": {"kernel_size": 3, "sigma": 1.0}}"#).unwrap_err();
    assert!(e.to_string().contains("smothing"), "{e}");
    let mut config = serde_json::to_value(CwaConfig::paper(0.1)).unwrap();
    config["inner_stepsize"] = serde_json::json!(0.5);
    assert!(serde_json::from_value::<CwaConfig>(config).is_err());
}

#[test]
fn a_nan_setting_reads_back_from_json_and_is_then_refused_by_name() {
    // serde_json writes NaN as `null`, which did not read back as a number.
    let spec = AttackSpec::MiFgsm { threat: ThreatModel::linf(f64::NAN), iterations: 2, momentum: f64::INFINITY };
    let json = serde_json::to_string(&spec).unwrap();
    assert!(json.contains(r#""budget":"NaN""#) && json.contains(r#""momentum":"inf""#), "{json}");
    let back: AttackSpec = serde_json::from_str(&json).unwrap();
    let e =
        back.build().run(&mlp_ensemble(1, 4, 3), images(1, [1, 1, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![0]));
    assert!(matches!(e, Err(Error::InvalidParameter { name: "budget", .. })), "{:?}", e.err());
    let mut rap = serde_json::to_value(RapConfig::paper(ThreatModel::linf(0.1))).unwrap();
    rap["reverse_budget"] = serde_json::json!("-inf");
    let rap: RapConfig = serde_json::from_value(rap).unwrap();
    assert_eq!(rap.reverse_budget, Some(f64::NEG_INFINITY));
}

#[test]
fn an_absurd_iteration_count_runs_without_reserving_memory_for_it() {
    let ensemble = mlp_ensemble(1, 4, 3);
    let attack = mi_fgsm(ThreatModel::linf(0.1), usize::MAX, 1.0);
    let outcome = attack
        .run_observed(
            &ensemble,
            images(1, [1, 1, 2, 2], 0.0, 1.0),
            &Objective::untargeted(vec![0]),
            &mut StopAfter::new(2),
        )
        .unwrap();
    assert_eq!(outcome.records.len(), 2);
}

#[test]
fn errors_outside_attacks_name_the_right_thing() {
    use common_weakness::eval::success_rate;
    let e = success_rate(Goal::Untargeted, &[0, 1], &[0, 1], &[0, 1], &[0]).unwrap_err();
    assert!(e.to_string().contains("adversarial predictions"), "{e}");
    let e = success_rate(Goal::Untargeted, &[0, 1], &[0], &[0, 1], &[0, 1]).unwrap_err();
    assert!(matches!(e, Error::BatchMismatch { images: 2, labels: 1 }), "{e}");
}

#[test]
fn a_custom_loss_must_give_one_value_per_image() {
    let ensemble = mlp_ensemble(2, 4, 3);
    let batch_total = Objective::custom(None, |input: common_weakness::objective::LossInput| input.outputs.sum());
    let e = mi_fgsm(ThreatModel::linf(0.1), 2, 1.0).run(&ensemble, images(1, [2, 1, 2, 2], 0.0, 1.0), &batch_total);
    let e = e.unwrap_err();
    assert!(matches!(e, Error::Shape { what: "custom loss", ref actual, .. } if actual == &vec![1]), "{e}");
}

#[test]
fn classification_losses_refuse_one_class_models_and_rank_any_logits() {
    // Over one logit, cross-entropy and margin are constant: the attack silently did nothing.
    let one_class = from_fn("one-logit", |x: Tensor<4>| x.flatten::<2>(1, 3).sum_dim(1));
    let ensemble = Ensemble::new(vec![Box::new(one_class) as Box<dyn Surrogate>]).unwrap();
    let e = mi_fgsm(ThreatModel::linf(0.1), 2, 1.0).run(
        &ensemble,
        images(1, [1, 1, 2, 2], 0.0, 1.0),
        &Objective::untargeted(vec![0]),
    );
    let e = e.unwrap_err();
    assert!(matches!(e, Error::TooFewClasses { ref model, classes: 1 } if model == "one-logit"), "{e}");

    // Masking the label with a constant such as −1e30 would beat logits below it.
    let device = super::common::device();
    let outputs = Tensor::<2>::from_floats([[-1e35, -2e35, -3e35]], &device);
    let one_hot = Tensor::<2>::from_floats([[1.0, 0.0, 0.0]], &device);
    let input = common_weakness::objective::LossInput {
        outputs: outputs.clone(),
        one_hot: Some(one_hot),
        reference_outputs: outputs,
    };
    let margin = Objective::untargeted(vec![0]).with_loss(LossKind::Margin { confidence: 1e36 });
    let loss = super::common::values(margin.per_sample(input).unwrap());
    assert!((loss[0] - 1e35).abs() < 1e30, "z_y − max_(j≠y) z_j = 1e35, got {}", loss[0]);
}

#[test]
fn a_translation_padding_that_would_overflow_is_refused() {
    let ensemble = mlp_ensemble(1, 4, 3);
    let di = GradientEstimator::default().with_diversity(InputDiversity::Translate { padding: usize::MAX / 2 });
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_gradient(di);
    let e = attack.run(&ensemble, images(1, [1, 1, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![0])).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "padding", .. }), "{e}");
}

#[test]
fn landscape_refuses_empty_batches_and_mismatched_shapes() {
    use common_weakness::landscape::{Landscape, Scope};
    let ensemble = mlp_ensemble(2, 4, 3);
    let objective = Objective::untargeted(vec![0]);
    let empty = Tensor::<4>::zeros([0, 1, 2, 2], &super::common::device());
    assert!(matches!(
        Landscape::new(&ensemble, &Objective::untargeted(vec![]), Combination::LogitMean, &empty),
        Err(Error::EmptyBatch { .. })
    ));
    let clean = images(1, [1, 1, 2, 2], 0.0, 1.0);
    let landscape = Landscape::new(&ensemble, &objective, Combination::LogitMean, &clean).unwrap();
    let other = images(2, [2, 1, 2, 2], 0.0, 1.0);
    let e = landscape.losses(Scope::Ensemble, &other).unwrap_err();
    assert!(matches!(e, Error::Shape { what: "landscape point", .. }), "{e}");
    let e = landscape.curve(Scope::Model(0), &clean, &other, &[0.0, 0.1]).unwrap_err();
    assert!(matches!(e, Error::Shape { what: "curve direction", .. }), "{e}");
}

#[test]
fn landscape_measurements_are_finite_or_an_error_naming_the_model() {
    use common_weakness::landscape::{Landscape, Scope};
    let ensemble = Ensemble::new(vec![mlp_ensemble_member(), square_root_model("root")]).unwrap();
    let objective = Objective::untargeted(vec![0]);
    let landscape = Landscape::new(&ensemble, &objective, Combination::LogitMean, &black_pixel()).unwrap();
    // The square root's gradient is infinite at the black pixel: unchecked, sharpness and the
    // Hessian come back NaN, the nearby optimum from a NaN-signed step.
    let e = landscape.top_hessian_eigenvalue(Scope::Model(1), &black_pixel(), 3, 1e-2, 0).unwrap_err();
    assert!(matches!(e, Error::NonFiniteMeasurement { ref scope, .. } if scope == "model `root`"), "{e}");
    let e = landscape.nearby_optimum(Scope::Model(1), &black_pixel(), 2, 0.01, 0.1).unwrap_err();
    assert!(matches!(e, Error::NonFiniteMeasurement { quantity: "gradient", .. }), "{e}");
    let e = landscape.top_hessian_eigenvalue(Scope::Ensemble, &black_pixel(), 3, 1e-2, 0).unwrap_err();
    assert!(e.to_string().contains("of the ensemble"), "{e}");
    assert!(landscape.sharpness(Scope::Model(0), &black_pixel(), 0.05, 2, 0).unwrap().iter().all(|s| s.is_finite()));
    // NaN points and directions are refused before any model sees them.
    let nan = tensor4(vec![f32::NAN, 0.5, 0.5, 0.5], [1, 1, 2, 2]);
    assert!(matches!(landscape.losses(Scope::Model(0), &nan), Err(Error::InvalidPixels { .. })));
    let e = landscape.curve(Scope::Model(0), &black_pixel(), &nan, &[0.0]).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { name: "curve direction", .. }), "{e}");
}

#[test]
fn misuse_outside_attacks_is_an_error_not_a_panic() {
    use common_weakness::eval::{mean_pairwise_cosine, predictions};
    use common_weakness::surrogate::Normalized;
    let device = super::common::device();
    // Zero classes, and NaN logits (a plain argmax would "predict" class 0).
    let e = predictions(Tensor::<2>::zeros([2, 0], &device)).unwrap_err();
    assert!(matches!(e, Error::Shape { what: "logits", .. }), "{e}");
    let nan = Tensor::<2>::from_floats([[f32::NAN, 1.0], [0.0, 1.0]], &device);
    assert!(matches!(predictions(nan), Err(Error::NonFiniteLogits { count: 1 })));
    // A zero resize.
    let pixels = from_fn("p", |x: Tensor<4>| x.flatten::<2>(1, 3));
    let e = Normalized::imagenet(pixels).with_resize(0, 0).err().unwrap();
    assert!(matches!(e, Error::InvalidParameter { name: "resize height", .. }), "{e}");
    // Gradients of different shapes.
    let e = mean_pairwise_cosine(&[images(1, [1, 1, 2, 2], 0.0, 1.0), images(2, [1, 1, 3, 3], 0.0, 1.0)]).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}

/// Compiles only if `T` can be shared between threads.
fn assert_shared<T: Send + Sync>() {}

#[test]
fn two_threads_share_one_ensemble_and_get_the_sequential_results() {
    assert_shared::<Ensemble>();
    assert_shared::<Box<dyn Attack>>();
    assert_shared::<Objective>();
    let ensemble = mlp_ensemble(3, 16, 4);
    let attack: Box<dyn Attack> = Box::new(Cwa::mi_cwa(CwaConfig::paper(0.1)));
    let batches = [images(1, [2, 1, 4, 4], 0.0, 1.0), images(2, [3, 1, 4, 4], 0.0, 1.0)];
    let objectives = [Objective::untargeted(vec![0, 1]), Objective::untargeted(vec![2, 3, 0])];
    let run = |i: usize| {
        let outcome = attack.run(&ensemble, batches[i].clone(), &objectives[i]).unwrap();
        super::common::values(outcome.adversarial)
    };
    let sequential: Vec<Vec<f32>> = (0..2).map(run).collect();
    let parallel: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2).map(|i| scope.spawn(move || run(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(parallel, sequential);
}
