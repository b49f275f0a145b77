//! Landscape estimators on analytic quadratics, whose Hessians, optima and sharpness are known.

use burn::tensor::Tensor;
use common_weakness::ensemble::{Combination, Ensemble};
use common_weakness::landscape::{offsets, Landscape, Scope};
use common_weakness::objective::LossInput;
use common_weakness::objective::Objective;
use common_weakness::surrogate::{from_fn, Surrogate};

use crate::common::{tensor4, values};

const SHAPE: [usize; 4] = [2, 1, 3, 3];
const PIXELS: usize = 9;

/// L(x) = ½ Σ_k h_k (x_k − p_k)², per image; Hessian diag(h).
fn bowl(name: &str, curvature: Vec<f32>, minimum: Vec<f32>) -> Box<dyn Surrogate> {
    let h = tensor4(curvature, [1, 1, 3, 3]);
    let p = tensor4(minimum, [1, 1, 3, 3]);
    Box::new(from_fn(name.to_string(), move |x: Tensor<4>| {
        ((x - p.clone()).square() * h.clone()).flatten::<2>(1, 3).sum_dim(1).mul_scalar(0.5)
    }))
}

fn raw_objective() -> Objective {
    Objective::custom(None, |input: LossInput| input.outputs.squeeze_dim(1))
}

fn curvature() -> Vec<f32> {
    vec![1.0, 1.0, 4.0, 1.0, 8.0, 1.0, 2.0, 1.0, 1.0]
}

fn centre() -> Vec<f32> {
    (0..PIXELS).map(|k| 0.4 + 0.02 * k as f32).collect()
}

fn batch(pixels: Vec<f32>) -> Tensor<4> {
    tensor4([pixels.clone(), pixels].concat(), SHAPE)
}

#[test]
fn power_iteration_finds_the_largest_curvature() {
    let models = Ensemble::new(vec![bowl("bowl", curvature(), centre())]).unwrap();
    let objective = raw_objective();
    let x = batch(centre().iter().map(|c| c + 0.05).collect());
    let landscape = Landscape::new(&models, &objective, Combination::LogitMean, &x).unwrap();
    for eigenvalue in landscape.top_hessian_eigenvalue(Scope::Model(0), &x, 60, 1e-2, 3).unwrap() {
        approx::assert_abs_diff_eq!(eigenvalue, 8.0, epsilon = 1e-2);
    }
    // The combined objective of one model is that model's objective.
    let ensemble = landscape.top_hessian_eigenvalue(Scope::Ensemble, &x, 60, 1e-2, 3).unwrap();
    approx::assert_abs_diff_eq!(ensemble[0], 8.0, epsilon = 1e-2);
}

#[test]
fn sharpness_at_the_minimum_is_the_corner_value() {
    let models = Ensemble::new(vec![bowl("bowl", curvature(), centre())]).unwrap();
    let objective = raw_objective();
    let x = batch(centre());
    let landscape = Landscape::new(&models, &objective, Combination::LogitMean, &x).unwrap();
    let radius = 0.05;
    // max over the L∞ ball of ½ Σ h_k δ_k² is at a corner: ½ r² Σ h_k.
    let expected = 0.5 * radius * radius * curvature().iter().map(|&h| h as f64).sum::<f64>();
    let sharpness = landscape.sharpness(Scope::Model(0), &x, radius, 10, 7).unwrap();
    assert_eq!(sharpness.len(), 2, "one value per image");
    for value in sharpness {
        approx::assert_relative_eq!(value, expected, max_relative = 1e-3);
    }
}

#[test]
fn nearby_optimum_walks_back_to_the_minimum() {
    let models = Ensemble::new(vec![bowl("bowl", curvature(), centre())]).unwrap();
    let objective = raw_objective();
    let offset: Vec<f32> = (0..PIXELS).map(|k| if k % 2 == 0 { 0.04 } else { -0.03 }).collect();
    let x = batch(centre().iter().zip(&offset).map(|(c, o)| c + o).collect());
    let landscape = Landscape::new(&models, &objective, Combination::LogitMean, &x).unwrap();
    let step = 0.005;
    let optimum = landscape.nearby_optimum(Scope::Model(0), &x, 20, step, 0.1).unwrap();
    // Sign steps end within one step of the minimum in every pixel.
    let found = values(optimum.point.clone());
    for (i, value) in found.iter().enumerate() {
        assert!((value - centre()[i % PIXELS]).abs() <= step as f32 + 1e-5, "pixel {i}: {value}");
    }
    let l2: f64 = offset.iter().map(|&o| (o * o) as f64).sum::<f64>().sqrt();
    for image in 0..2 {
        approx::assert_abs_diff_eq!(optimum.linf_distance[image], 0.04, epsilon = step + 1e-5);
        approx::assert_abs_diff_eq!(optimum.l2_distance[image], l2, epsilon = 3.0 * step);
        assert!(optimum.loss_at_optimum[image] < 0.01 * optimum.loss_at_start[image]);
    }
}

#[test]
fn loss_curve_is_the_parabola_along_the_direction() {
    let models = Ensemble::new(vec![bowl("bowl", curvature(), centre())]).unwrap();
    let objective = raw_objective();
    let x = batch(centre());
    let landscape = Landscape::new(&models, &objective, Combination::LogitMean, &x).unwrap();
    // A direction with L∞ norm 2: the curve uses it at unit L∞ norm.
    let direction: Vec<f32> = (0..PIXELS).map(|k| if k == 4 { 2.0 } else { 1.0 }).collect();
    let ts = offsets(0.1, 5);
    assert_eq!(ts, vec![-0.1, -0.05, 0.0, 0.05, 0.1]);
    let curve = landscape.curve(Scope::Model(0), &x, &batch(direction.clone()), &ts).unwrap();
    let quadratic: f64 = curvature().iter().zip(&direction).map(|(&h, &d)| 0.5 * (h * d * d / 4.0) as f64).sum();
    for (t, value) in ts.iter().zip(curve) {
        approx::assert_abs_diff_eq!(value, quadratic * t * t, epsilon = 1e-6);
    }
    let flat = landscape.curve(Scope::Model(0), &x, &batch(vec![0.0; PIXELS]), &ts).unwrap();
    assert!(flat.iter().all(|v| v.abs() < 1e-9), "a zero direction gives a flat curve: {flat:?}");
}

#[test]
fn gradient_cosine_measures_how_aligned_the_optima_are() {
    let ones = vec![1.0; PIXELS];
    let x = batch(vec![0.5; PIXELS]);
    let objective = raw_objective();
    // Minima on opposite sides of x: gradients x − p₁ and x − p₂ point in opposite directions.
    let opposite = Ensemble::new(vec![
        bowl("low", ones.clone(), vec![0.4; PIXELS]),
        bowl("high", ones.clone(), vec![0.6; PIXELS]),
    ])
    .unwrap();
    let landscape = Landscape::new(&opposite, &objective, Combination::LogitMean, &x).unwrap();
    for cosine in landscape.gradient_cosine(&x).unwrap().unwrap() {
        approx::assert_abs_diff_eq!(cosine, -1.0, epsilon = 1e-5);
    }
    let shared =
        Ensemble::new(vec![bowl("a", ones.clone(), vec![0.4; PIXELS]), bowl("b", curvature(), vec![0.4; PIXELS])])
            .unwrap();
    let landscape = Landscape::new(&shared, &objective, Combination::LogitMean, &x).unwrap();
    // Gradients h_k·0.1 and 0.1: cosine Σh / (√9 · √Σh²).
    let h = curvature();
    let expected = h.iter().sum::<f32>() as f64 / (3.0 * (h.iter().map(|v| v * v).sum::<f32>() as f64).sqrt());
    for cosine in landscape.gradient_cosine(&x).unwrap().unwrap() {
        approx::assert_abs_diff_eq!(cosine, expected, epsilon = 1e-5);
    }
    assert!(matches!(landscape.losses(Scope::Model(2), &x), Err(common_weakness::Error::InvalidParameter { .. })));
}

#[test]
fn the_ensemble_scope_combines_models_at_the_chosen_combination() {
    let x = batch(vec![0.5; PIXELS]);
    let objective = raw_objective();
    let models = || vec![bowl("a", curvature(), centre()), bowl("b", vec![1.0; PIXELS], vec![0.4; PIXELS])];
    let ensemble = Ensemble::new(models()).unwrap();
    let landscape = |combination| Landscape::new(&ensemble, &objective, combination, &x).unwrap();
    let (mean, sum) = (landscape(Combination::LogitMean), landscape(Combination::LogitSum));
    let (a, b) = (mean.losses(Scope::Model(0), &x).unwrap(), mean.losses(Scope::Model(1), &x).unwrap());
    // The raw objective is the output itself, so the logit sum is the sum of the losses.
    let (mean, sum) = (mean.losses(Scope::Ensemble, &x).unwrap(), sum.losses(Scope::Ensemble, &x).unwrap());
    for i in 0..2 {
        approx::assert_relative_eq!(mean[i], (a[i] + b[i]) / 2.0, max_relative = 1e-6);
        approx::assert_relative_eq!(sum[i], a[i] + b[i], max_relative = 1e-6);
    }
}
