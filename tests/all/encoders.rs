//! Label-free objectives on encoders: closed-form gradients of feature distortion and
//! embedding matching, matching through the attack engine, random crops.

use approx::assert_relative_eq;
use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::{Cwa, CwaConfig};
use common_weakness::objective::LossInput;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;

use super::common::{device, images, mlp, values};

/// A linear encoder `f(x) = W·vec(x)` with `W` `[width, pixels]` given row by row, as a closure
/// over the flattened images.
fn linear_encoder(weights: &[f32], width: usize) -> impl Fn(Tensor<2>) -> Tensor<2> {
    let pixels = weights.len() / width;
    let transposed: Vec<f32> = (0..pixels).flat_map(|p| (0..width).map(move |k| weights[k * pixels + p])).collect();
    let w = Tensor::<2>::from_data(TensorData::new(transposed, [pixels, width]), &device());
    move |x| x.matmul(w.clone())
}

/// The gradient of `objective`'s summed per-sample loss with respect to `x` `[N, D]` when
/// the model is `encoder` and the reference images are `reference` `[N, D]`.
fn gradient(
    objective: &Objective,
    encoder: &dyn Fn(Tensor<2>) -> Tensor<2>,
    x: Vec<f32>,
    reference: Vec<f32>,
    pixels: usize,
) -> (Vec<f32>, Vec<f32>) {
    let n = x.len() / pixels;
    let x = Tensor::<2>::from_data(TensorData::new(x, [n, pixels]), &device()).require_grad();
    let reference = Tensor::<2>::from_data(TensorData::new(reference, [n, pixels]), &device());
    let input = LossInput { outputs: encoder(x.clone()), one_hot: None, reference_outputs: encoder(reference) };
    let loss = objective.per_sample(input).unwrap();
    let grads = loss.clone().sum().backward();
    let gradient = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
    (values(loss), gradient)
}

const W: [f32; 6] = [1.0, -2.0, 0.5, 0.0, 3.0, 1.0]; // width 2, 3 pixels

#[test]
fn feature_distortion_gradient_on_a_linear_encoder_is_minus_two_wt_w_delta() {
    // L = −‖W(x − x0)‖², ∇L = −2·Wᵀ·W·(x − x0).
    let (x, x0) = (vec![0.3, 0.7, 0.1], vec![0.2, 0.5, 0.4]);
    let (loss, g) = gradient(&Objective::feature_distortion(), &linear_encoder(&W, 2), x.clone(), x0.clone(), 3);
    let delta: Vec<f32> = x.iter().zip(&x0).map(|(a, b)| a - b).collect();
    let wd: Vec<f32> = (0..2).map(|k| (0..3).map(|p| W[k * 3 + p] * delta[p]).sum()).collect();
    assert_relative_eq!(loss[0], -(wd[0] * wd[0] + wd[1] * wd[1]), max_relative = 1e-5);
    for p in 0..3 {
        let expected: f32 = -2.0 * (0..2).map(|k| W[k * 3 + p] * wd[k]).sum::<f32>();
        assert_relative_eq!(g[p], expected, max_relative = 1e-5);
    }
}

#[test]
fn embedding_match_gradient_on_a_linear_encoder_is_the_cosine_derivative() {
    // L = 1 − cos(a, b), a = Wx, b = Wt; ∂L/∂a = −(b/(|a||b|) − cos·a/|a|²); ∇L = Wᵀ·∂L/∂a.
    let (x, t) = (vec![0.3, 0.7, 0.1], vec![0.9, 0.2, 0.4]);
    let target = Tensor::<4>::from_data(TensorData::new(t.clone(), [1, 1, 1, 3]), &device());
    let (loss, g) = gradient(&Objective::embedding_match(target), &linear_encoder(&W, 2), x.clone(), t.clone(), 3);
    let apply = |v: &[f32]| -> Vec<f32> { (0..2).map(|k| (0..3).map(|p| W[k * 3 + p] * v[p]).sum()).collect() };
    let (a, b) = (apply(&x), apply(&t));
    let norm = |v: &[f32]| v.iter().map(|e| e * e).sum::<f32>().sqrt();
    let cos = (a[0] * b[0] + a[1] * b[1]) / (norm(&a) * norm(&b));
    assert_relative_eq!(loss[0], 1.0 - cos, max_relative = 1e-5);
    let upstream: Vec<f32> =
        (0..2).map(|k| -(b[k] / (norm(&a) * norm(&b)) - cos * a[k] / (norm(&a) * norm(&a)))).collect();
    for p in 0..3 {
        let expected: f32 = (0..2).map(|k| W[k * 3 + p] * upstream[k]).sum();
        assert_relative_eq!(g[p], expected, max_relative = 1e-4);
    }
}

#[test]
fn a_zero_embedding_has_a_finite_matching_loss_and_gradient() {
    let target = Tensor::<4>::from_data(TensorData::new(vec![1.0f32, 1.0, 1.0], [1, 1, 1, 3]), &device());
    let zero = |x: Tensor<2>| x.mul_scalar(0.0);
    let (loss, g) = gradient(&Objective::embedding_match(target), &zero, vec![0.5; 3], vec![1.0; 3], 3);
    assert_eq!(loss, vec![1.0]);
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
}

#[test]
fn matching_lowers_the_cosine_distance_to_the_target_on_every_surrogate() {
    // Two encoders of different widths, one target image for the whole batch, random crops.
    let ensemble = Ensemble::new(vec![mlp("e3", 1, 48, 8, 3), mlp("e5", 2, 48, 8, 5)]).unwrap();
    let x = images(5, [2, 3, 4, 4], 0.2, 0.8);
    let target = images(6, [1, 3, 4, 4], 0.0, 1.0);
    let objective = Objective::embedding_match(target.clone());
    let crops = GradientEstimator::default().with_diversity(InputDiversity::crop());
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.2)).with_combination(Combination::LossMean).with_gradient(crops);
    let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
    for (index, member) in ensemble.members().iter().enumerate() {
        let (before, after) = (outcome.initial_loss[index], outcome.final_loss[index]);
        assert!(after < 0.5 * before, "{}: cosine distance {before} -> {after}", member.name());
        // The recorded loss is the cosine distance to the target's embedding, recomputed here.
        let (a, b) = (member.forward(outcome.adversarial.clone()), member.forward(target.clone()));
        let cos = (a.clone() * b.clone()).sum_dim(1) / (a.square().sum_dim(1).sqrt() * b.square().sum_dim(1).sqrt());
        let distance = values(cos.neg().add_scalar(1.0)).iter().sum::<f32>() / 2.0;
        assert_relative_eq!(distance as f64, after, max_relative = 1e-4);
    }
    let again = attack.run(&ensemble, x, &objective).unwrap();
    assert_eq!(values(again.adversarial), values(outcome.adversarial), "seeded crops");
}

#[test]
fn target_images_of_the_wrong_count_or_shape_are_named() {
    let ensemble = Ensemble::new(vec![mlp("e", 1, 12, 8, 3)]).unwrap();
    let x = images(1, [3, 3, 2, 2], 0.0, 1.0);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1));
    let two = Objective::embedding_match(images(2, [2, 3, 2, 2], 0.0, 1.0));
    let error = attack.run(&ensemble, x.clone(), &two).unwrap_err();
    assert!(matches!(error, Error::Shape { what: "target images", .. }), "{error}");
    let wrong_size = Objective::embedding_match(images(2, [1, 3, 4, 4], 0.0, 1.0));
    let error = attack.run(&ensemble, x.clone(), &wrong_size).unwrap_err();
    assert!(matches!(error, Error::Shape { what: "target images", .. }), "{error}");
    assert!(error.to_string().contains("[1 or 3, 3, 2, 2]"), "{error}");
    let no_targets = Objective::feature_distortion().with_loss(LossKind::EmbeddingMatch);
    let error = attack.run(&ensemble, x, &no_targets).unwrap_err();
    assert!(matches!(error, Error::InvalidObjective(_)), "{error}");
}

#[test]
fn crops_are_seeded_in_range_and_keep_the_shape() {
    let x = images(3, [4, 1, 16, 16], 0.0, 1.0);
    let crop = InputDiversity::crop();
    let draw = |seed| values(crop.apply(x.clone(), &mut AttackRng::new(seed)));
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    assert_eq!(crop.apply(x.clone(), &mut AttackRng::new(0)).dims(), [4, 1, 16, 16]);
    // A crop of a constant image is that constant; of a horizontal ramp, a ramp spanning
    // between √0.5 and √0.9 of the original range.
    let constant = Tensor::<4>::full([1, 1, 16, 16], 0.25, &device());
    assert!(values(crop.apply(constant, &mut AttackRng::new(1))).iter().all(|v| (v - 0.25).abs() < 1e-6));
    let ramp: Vec<f32> = (0..16 * 16).map(|i| (i % 16) as f32).collect();
    let ramp = Tensor::<4>::from_data(TensorData::new(ramp, [1, 1, 16, 16]), &device());
    for seed in 0..20 {
        let row = values(crop.apply(ramp.clone(), &mut AttackRng::new(seed)).narrow(2, 0, 1));
        let span = (row[15] - row[0]) / 15.0;
        assert!((0.5f32.sqrt() - 0.1..=0.9f32.sqrt() + 0.1).contains(&span), "seed {seed}: span {span}");
    }
    for bad in [
        InputDiversity::Crop { min_scale: 0.0, max_scale: 0.5 },
        InputDiversity::Crop { min_scale: 0.5, max_scale: 1.5 },
        InputDiversity::Crop { min_scale: 0.8, max_scale: 0.6 },
        InputDiversity::Crop { min_scale: f64::NAN, max_scale: 0.6 },
    ] {
        assert!(matches!(bad.validate(), Err(Error::InvalidParameter { .. })), "{bad:?}");
    }
}
