//! Every bad input is a clear error, never a panic or NaN.

use burn::tensor::Tensor;
use common_weakness::attack::{bim, CwaConfig};
use common_weakness::optim::{Adam, Momentum, Sgd};
use common_weakness::prelude::*;
use common_weakness::surrogate::{from_fn, Normalized};

use super::common::{device, images, mlp, mlp_ensemble, tensor4};

fn attack() -> Cwa<Sgd, Momentum, Momentum> {
    Cwa::mi_cwa(CwaConfig::paper(0.1))
}

fn run_err(attack: &dyn Attack, ensemble: &Ensemble, x: Tensor<4>, objective: &Objective) -> Error {
    attack.run(ensemble, x, objective).expect_err("the attack should refuse this input")
}

#[test]
fn empty_ensemble() {
    assert!(matches!(Ensemble::new(vec![]), Err(Error::EmptyEnsemble)));
}

#[test]
fn empty_batch_and_wrong_sizes() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let empty = Tensor::<4>::zeros([0, 3, 2, 2], &device());
    assert!(matches!(run_err(&attack(), &ensemble, empty, &Objective::untargeted(vec![])), Error::EmptyBatch { .. }));
    let x = images(1, [2, 3, 2, 2], 0.0, 1.0);
    let e = run_err(&attack(), &ensemble, x, &Objective::untargeted(vec![0, 1, 2]));
    assert!(matches!(e, Error::BatchMismatch { images: 2, labels: 3 }), "{e}");
}

#[test]
fn wrong_rank_or_channel_count() {
    let pixels = from_fn("pixels", |x: Tensor<4>| x.flatten::<2>(1, 3));
    let model = Normalized::imagenet(pixels);
    let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
    let gray = images(1, [1, 1, 2, 2], 0.0, 1.0);
    let e = run_err(&attack(), &ensemble, gray, &Objective::untargeted(vec![0]));
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("[N, 3, H, W]"));
    // A model returning one row per pixel instead of one per image.
    let wrong = from_fn("wrong", |x: Tensor<4>| x.reshape([-1, 1]));
    let ensemble = Ensemble::new(vec![Box::new(wrong)]).unwrap();
    let e = run_err(&attack(), &ensemble, images(1, [2, 1, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![0, 0]));
    assert!(matches!(e, Error::ModelOutputShape { .. }), "{e}");
    assert!(Normalized::new(from_fn("p", |x: Tensor<4>| x.flatten::<2>(1, 3)), vec![0.5], vec![0.0]).is_err());
    assert!(Normalized::new(from_fn("p", |x: Tensor<4>| x.flatten::<2>(1, 3)), vec![0.5, 0.5], vec![1.0]).is_err());
}

#[test]
fn raw_data_of_the_wrong_rank_or_range() {
    use burn::tensor::TensorData;
    use common_weakness::attack::images_from_data;
    let rank3 = images_from_data(TensorData::new(vec![0.5f32; 8], [2, 2, 2]), &device());
    assert!(matches!(rank3, Err(Error::Shape { ref actual, .. }) if actual == &vec![2, 2, 2]));
    let empty = images_from_data(TensorData::new(Vec::<f32>::new(), [0, 1, 2, 2]), &device());
    assert!(matches!(empty, Err(Error::EmptyBatch { .. })));
    let bright = images_from_data(TensorData::new(vec![2.0f32; 4], [1, 1, 2, 2]), &device());
    assert!(matches!(bright, Err(Error::InvalidPixels { count: 4, .. })));
    let bytes_as_floats = images_from_data(TensorData::new(vec![0.25f64; 4], [1, 1, 2, 2]), &device());
    assert_eq!(bytes_as_floats.unwrap().dims(), [1, 1, 2, 2]);
}

#[test]
fn labels_out_of_range() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(1, [2, 3, 2, 2], 0.0, 1.0);
    let e = run_err(&attack(), &ensemble, x.clone(), &Objective::untargeted(vec![0, 4]));
    assert!(matches!(e, Error::LabelOutOfRange { index: 1, label: 4, classes: 4 }), "{e}");
    let e = run_err(&attack(), &ensemble, x, &Objective::targeted(vec![9, 0]));
    assert!(matches!(e, Error::LabelOutOfRange { index: 0, label: 9, .. }), "{e}");
}

#[test]
fn nan_inf_and_out_of_range_pixels() {
    let ensemble = mlp_ensemble(1, 4, 2);
    let objective = Objective::untargeted(vec![0]);
    for (bad, problem) in [(f32::NAN, "NaN"), (f32::INFINITY, "infinite"), (1.5, "outside"), (-0.1, "outside")] {
        let x = tensor4(vec![0.5, bad, 0.5, 0.5], [1, 1, 2, 2]);
        let e = run_err(&attack(), &ensemble, x, &objective);
        assert!(matches!(e, Error::InvalidPixels { count: 1, .. }), "{e}");
        assert!(e.to_string().contains(problem), "{e}");
    }
}

/// Whether `e` is the `role` optimizer's invalid parameter `name`.
fn in_role(e: &Error, role: &str, name: &str) -> bool {
    matches!(e, Error::Optimizer { role: r, source } if *r == role
        && matches!(**source, Error::InvalidParameter { name: n, .. } if n == name))
}

#[test]
fn bad_budgets_steps_and_iterations() {
    let ensemble = mlp_ensemble(1, 12, 4);
    let x = images(1, [1, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0]);
    for budget in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        let e = run_err(
            &Cwa::mi_cwa(CwaConfig::paper(0.1).with_threat(ThreatModel::l2(budget))),
            &ensemble,
            x.clone(),
            &objective,
        );
        assert!(matches!(e, Error::InvalidParameter { name: "budget", .. }), "{e}");
    }
    let e = run_err(&attack().with_outer(Sgd::sign(-1.0)), &ensemble, x.clone(), &objective);
    assert!(in_role(&e, "outer", "step_size"), "{e}");
    let e = run_err(&attack().with_inner(Momentum::cwa_inner(f64::NAN, 1.0)), &ensemble, x.clone(), &objective);
    assert!(in_role(&e, "inner", "step_size"), "{e}");
    let e = run_err(&attack().with_reverse(Sgd::sign(0.0)), &ensemble, x.clone(), &objective);
    assert!(in_role(&e, "reverse", "step_size"), "{e}");
    let e = run_err(&attack().with_inner(Momentum::cwa_inner(50.0, -1.0)), &ensemble, x.clone(), &objective);
    assert!(in_role(&e, "inner", "momentum"), "{e}");
    let e = run_err(&attack().with_outer(Adam { beta2: 1.5, ..Adam::new(0.01) }), &ensemble, x.clone(), &objective);
    assert!(in_role(&e, "outer", "beta2"), "{e}");
    let e = run_err(&bim(ThreatModel::linf(0.1), 0), &ensemble, x.clone(), &objective);
    assert!(matches!(e, Error::InvalidParameter { name: "iterations", .. }), "{e}");
    let margin = Objective::untargeted(vec![0]).with_loss(LossKind::Margin { confidence: -1.0 });
    assert!(matches!(run_err(&attack(), &ensemble, x, &margin), Error::InvalidParameter { name: "confidence", .. }));
}

#[test]
fn bad_weights_and_objectives() {
    let two = || Ensemble::new(vec![mlp("a", 1, 12, 8, 4), mlp("b", 2, 12, 8, 4)]).unwrap();
    assert!(matches!(two().with_weights(vec![1.0]), Err(Error::Shape { .. })));
    assert!(matches!(two().with_weights(vec![1.0, -1.0]), Err(Error::InvalidParameter { .. })));
    assert!(matches!(two().with_weights(vec![0.0, 0.0]), Err(Error::InvalidParameter { .. })));
    assert!(matches!(two().with_weights(vec![f64::NAN, 1.0]), Err(Error::InvalidParameter { .. })));
    let targeted_features = Objective::targeted(vec![0]).with_loss(LossKind::FeatureDistortion);
    assert!(matches!(targeted_features.validate(1), Err(Error::InvalidObjective(_))));
    let unlabelled = Objective::feature_distortion().with_loss(LossKind::CrossEntropy);
    assert!(matches!(unlabelled.validate(1), Err(Error::InvalidObjective(_))));
}

#[test]
fn models_with_different_class_counts() {
    let ensemble = Ensemble::new(vec![mlp("four", 1, 12, 8, 4), mlp("ten", 2, 12, 8, 10)]).unwrap();
    let e = run_err(&attack(), &ensemble, images(1, [1, 3, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![0]));
    assert!(
        matches!(e, Error::OutputMismatch { ref first, ref model, expected: 4, actual: 10 } if first == "four" && model == "ten"),
        "{e}"
    );
}

#[test]
fn a_model_that_produces_nan_is_reported() {
    let broken = from_fn("broken", |x: Tensor<4>| x.flatten::<2>(1, 3).log().mul_scalar(0.0));
    let ensemble = Ensemble::new(vec![Box::new(broken)]).unwrap();
    let x = tensor4(vec![0.0, 0.5, 0.5, 0.5], [1, 1, 2, 2]);
    let e = run_err(&attack(), &ensemble, x, &Objective::untargeted(vec![0]));
    assert!(matches!(e, Error::NonFiniteLoss { ref model, iteration: 0 } if model == "broken"), "{e}");
}

#[test]
fn batch_independence_check_needs_two_images() {
    let pixels = from_fn("pixels", |x: Tensor<4>| x.flatten::<2>(1, 3));
    let e = common_weakness::surrogate::check_batch_independence(&pixels, images(1, [1, 1, 2, 2], 0.0, 1.0), 1e-6);
    assert!(matches!(e, Err(Error::InvalidParameter { .. })));
}

#[test]
fn evaluation_helpers_name_bad_input() {
    use common_weakness::eval::{row_cosine, top_k_predictions};
    let logits = Tensor::<2>::from_floats([[0.0, f32::NAN]], &device());
    assert!(matches!(top_k_predictions(logits, 5), Err(Error::NonFiniteLogits { count: 1 })));
    let ok = Tensor::<2>::from_floats([[0.0, 1.0]], &device());
    assert!(matches!(top_k_predictions(ok.clone(), 0), Err(Error::InvalidParameter { name: "k", .. })));
    assert_eq!(top_k_predictions(ok.clone(), 5).unwrap(), vec![vec![1, 0]]);
    let wide = Tensor::<2>::from_floats([[0.0, 1.0, 2.0]], &device());
    assert!(matches!(row_cosine(ok.clone(), wide), Err(Error::Shape { .. })));
    let infinite = Tensor::<2>::from_floats([[f32::INFINITY, 1.0]], &device());
    assert!(matches!(row_cosine(ok, infinite), Err(Error::NonFiniteEmbedding { count: 1 })));
    let empty = Tensor::<2>::zeros([2, 0], &device());
    assert_eq!(row_cosine(empty.clone(), empty).unwrap(), vec![0.0, 0.0], "zero-width rows have similarity 0");
}
