//! Closed-form checks on analytic surrogates (linear models, whose input gradient is their
//! weight vector) against hand-derived values.

use approx::assert_relative_eq;
use burn::tensor::Tensor;
use common_weakness::attack::{mi_fgsm, AnchorPoint, CwaConfig};
use common_weakness::norm::{Direction, Normalization};
use common_weakness::optim::PatchWise;
use common_weakness::optim::{Adam, Momentum, Nesterov, Optimizer, Sgd};
use common_weakness::prelude::*;

use super::common::{linear, minimise_output, tensor4, values};

fn grad(v: Vec<f32>) -> Tensor<4> {
    let n = v.len();
    Tensor::from_data(burn::tensor::TensorData::new(v, [1, 1, 1, n]), &Default::default())
}

fn inner_values(x: Tensor<4>) -> Vec<f32> {
    x.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_all_close(actual: &[f32], expected: &[f32], epsilon: f32) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert_relative_eq!(*a, *e, epsilon = epsilon);
    }
}

#[test]
fn sgd_steps_match_hand_values() {
    let g = vec![3.0, -4.0, 0.0];
    let step = |opt: Sgd| inner_values(Optimizer::step(&opt, grad(g.clone()), &mut ()));
    assert_all_close(&step(Sgd::plain(0.5)), &[-1.5, 2.0, 0.0], 1e-7);
    assert_all_close(&step(Sgd::sign(0.5)), &[-0.5, 0.5, 0.0], 1e-7);
    // Unit L2 direction: g/5.
    assert_all_close(&step(Sgd::steepest(1.0, Direction::L2Unit)), &[-0.6, 0.8, 0.0], 1e-6);
    let l1 = Sgd { step_size: 1.0, normalize: Normalization::L1, direction: Direction::Raw };
    assert_all_close(&step(l1), &[-3.0 / 7.0, 4.0 / 7.0, 0.0], 1e-6);
}

#[test]
fn momentum_accumulates_normalised_gradients() {
    let opt = Momentum { look_ahead: false, ..Momentum::cwa_inner(0.1, 0.5) };
    let mut state = Optimizer::init(&opt, &grad(vec![0.0, 0.0]));
    // m1 = (0.6, 0.8); update = −0.1·m1.
    assert_all_close(&inner_values(opt.step(grad(vec![3.0, 4.0]), &mut state)), &[-0.06, -0.08], 1e-6);
    // m2 = 0.5·(0.6, 0.8) + (0, −1) = (0.3, −0.6).
    assert_all_close(&inner_values(opt.step(grad(vec![0.0, -2.0]), &mut state)), &[-0.03, 0.06], 1e-6);
}

#[test]
fn nesterov_looks_ahead_along_the_buffer() {
    let opt = Nesterov { step_size: 1.0, momentum: 0.9, normalize: Normalization::None, direction: Direction::Raw };
    let mut state = Optimizer::init(&opt, &grad(vec![0.0]));
    // m1 = 1; update = −(1 + 0.9·1).
    assert_all_close(&inner_values(opt.step(grad(vec![1.0]), &mut state)), &[-1.9], 1e-6);
    // m2 = 0.9 + 1 = 1.9; update = −(1 + 0.9·1.9) = −2.71.
    assert_all_close(&inner_values(opt.step(grad(vec![1.0]), &mut state)), &[-2.71], 1e-6);
}

#[test]
fn adam_matches_the_bias_corrected_formula() {
    let opt = Adam { step_size: 0.1, ..Adam::new(0.1) };
    let mut state = Optimizer::init(&opt, &grad(vec![0.0]));
    let first = inner_values(opt.step(grad(vec![2.0]), &mut state))[0];
    assert_relative_eq!(first, -0.1 * 2.0 / (2.0 + 1e-8), epsilon = 1e-6);
    // Step 2 with g = −1: m = 0.9·0.2 − 0.1 = 0.08, v = 0.999·0.004 + 0.001 = 0.004996.
    let second = inner_values(opt.step(grad(vec![-1.0]), &mut state))[0];
    let m_hat = 0.08 / (1.0 - 0.81);
    let v_hat: f64 = 0.004996 / (1.0 - 0.998001);
    assert_relative_eq!(second as f64, -0.1 * m_hat / (v_hat.sqrt() + 1e-8), epsilon = 1e-5);
    let ams = Adam { amsgrad: true, ..Adam::new(0.1) };
    assert!(Optimizer::validate(&ams).is_ok());
    assert!(Optimizer::validate(&Adam { beta1: 1.0, ..ams }).is_err());
}

/// Clamp to the L∞ ball of radius `eps` around `nat`, then to [0, 1].
fn clip(x: f32, nat: f32, eps: f32) -> f32 {
    x.max(nat - eps).min(nat + eps).clamp(0.0, 1.0)
}

fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// One MI-CWA iteration (paper flavour) on two linear models, against a hand computation of
/// the paper's Algorithm 1 (with per-sample L1 normalisation of the pseudo-gradient).
#[test]
fn one_mi_cwa_iteration_matches_hand_derivation() {
    let wa = vec![0.3, -0.2, 0.1, 0.4];
    let wb = vec![-0.1, -0.5, 0.2, 0.2];
    let nat = vec![0.5, 0.2, 0.9, 0.97];
    let (eps, r, beta, alpha) = (0.1f32, 0.01f32, 0.03f32, 0.02f32);

    // Reverse: ascend the mean output, gradient (wa + wb)/2.
    let xr: Vec<f32> = (0..4).map(|k| clip(nat[k] + r * sign(wa[k] + wb[k]), nat[k], eps)).collect();
    // Inner: model a then model b, momentum of unit-L2 gradients.
    let unit = |w: &[f32]| {
        let n = w.iter().map(|v| v * v).sum::<f32>().sqrt();
        w.iter().map(|v| v / n).collect::<Vec<_>>()
    };
    let (ua, ub) = (unit(&wa), unit(&wb));
    let x1: Vec<f32> = (0..4).map(|k| clip(xr[k] - beta * ua[k], nat[k], eps)).collect();
    let x2: Vec<f32> = (0..4).map(|k| clip(x1[k] - beta * (ua[k] + ub[k]), nat[k], eps)).collect();
    // Outer: q = x_r − x_2, L1-normalised, sign step of α from x_r.
    let q: Vec<f32> = (0..4).map(|k| xr[k] - x2[k]).collect();
    let expected: Vec<f32> = (0..4).map(|k| clip(xr[k] - alpha * sign(q[k]), nat[k], eps)).collect();

    let ensemble = Ensemble::new(vec![linear("a", wa), linear("b", wb)]).unwrap();
    let config = CwaConfig {
        iterations: 1,
        step_size: alpha as f64,
        inner_step_size: beta as f64,
        reverse_step_size: r as f64,
        ..CwaConfig::paper(eps as f64)
    };
    let outcome = Cwa::mi_cwa(config).run(&ensemble, tensor4(nat, [1, 1, 2, 2]), &minimise_output()).unwrap();
    assert_all_close(&values(outcome.adversarial), &expected, 1e-6);
}

/// CWA with one model, no reverse step and a tiny plain-gradient inner step is MI-FGSM: the
/// pseudo-gradient is then the (scaled) gradient and the outer MI step normalises the scale
/// away.
#[test]
fn cwa_with_one_model_no_reverse_and_identity_inner_step_is_mi_fgsm() {
    let ensemble = || Ensemble::new(vec![super::common::mlp("m", 7, 12, 8, 3)]).unwrap();
    // Budget, images and inner step are chosen so that no inner step is ever clipped (the
    // iterate is at most 9α from x_nat when the last sweep starts, and s·|g| < α) and the
    // subtraction q = x − (x − s·g) loses almost no precision.
    let images = super::common::images(3, [4, 3, 2, 2], 0.35, 0.65);
    let objective = Objective::untargeted(vec![0, 1, 2, 0]);
    let threat = ThreatModel::linf(0.3);
    let mi = mi_fgsm(threat, 10, 1.0);
    let mut cwa = Cwa::mi_cse(CwaConfig::paper(threat.budget)).with_inner(Sgd::plain(3e-3)).with_outer(mi.outer);
    cwa.settings.anchor = AnchorPoint::Iterate;
    let expected = mi.run(&ensemble(), images.clone(), &objective).unwrap().adversarial;
    let actual = cwa.run(&ensemble(), images, &objective).unwrap().adversarial;
    assert_all_close(&values(actual), &values(expected), 1e-6);
}

/// NI-FGSM on `L(x) = Σ c_k (x_k − 0.5)²`, three iterations by hand. The iterate starts
/// close to 0.5, so the look-ahead point `x − α·μ·m` (momentum of mean-|g|-normalised
/// gradients) lands on the other side of 0.5 for some pixels and flips their gradient: NI then
/// differs from MI-FGSM.
#[test]
fn ni_fgsm_takes_gradients_at_the_look_ahead_point() {
    let c = [1.0f32, -2.0, 0.5, 3.0];
    let nat = [0.52f32, 0.47, 0.56, 0.505];
    let (eps, alpha, mu, iterations) = (0.3f32, 0.05f32, 0.5f32, 3);
    let grad = |x: &[f32]| -> Vec<f32> { (0..4).map(|k| 2.0 * c[k] * (x[k] - 0.5)).collect() };
    let mean_abs = |v: &[f32]| v.iter().map(|a| a.abs()).sum::<f32>() / v.len() as f32;
    let run_by_hand = |look_ahead: bool| {
        let mut x = nat.to_vec();
        let mut m = [0.0f32; 4];
        for _ in 0..iterations {
            let shift = if look_ahead { alpha * mu } else { 0.0 };
            let ahead: Vec<f32> = (0..4).map(|k| x[k] - shift * m[k]).collect();
            let g = grad(&ahead);
            let scale = mean_abs(&g);
            for k in 0..4 {
                m[k] = mu * m[k] + g[k] / scale;
                x[k] = clip(x[k] - alpha * sign(m[k]), nat[k], eps);
            }
        }
        x
    };
    let (ni_by_hand, mi_by_hand) = (run_by_hand(true), run_by_hand(false));
    assert_ne!(ni_by_hand, mi_by_hand, "the test must separate NI from MI");

    let weights = super::common::tensor4(c.to_vec(), [1, 1, 2, 2]);
    let quadratic = common_weakness::surrogate::from_fn("quadratic", move |x: Tensor<4>| {
        let centred = x.sub_scalar(0.5);
        (centred.clone() * centred * weights.clone()).flatten::<2>(1, 3).sum_dim(1)
    });
    let ensemble = Ensemble::new(vec![Box::new(quadratic)]).unwrap();
    let ni = common_weakness::attack::ni_fgsm(ThreatModel::linf(eps as f64), iterations, mu as f64);
    let ni = Cwa { outer: Momentum { step_size: alpha as f64, ..ni.outer }, ..ni };
    let outcome = ni.run(&ensemble, tensor4(nat.to_vec(), [1, 1, 2, 2]), &minimise_output()).unwrap();
    assert_all_close(&values(outcome.adversarial), &ni_by_hand, 1e-6);
}

/// PI's step on a constant positive gradient over a 3×3 image, budget ε, α_b = γ = ε/2:
/// steps 1 and 2 are plain amplified steps (|A| ≤ ε); at step 3, |A| = 1.5ε overflows by
/// ε/2 everywhere, the 3×3 spread of that overflow is negative at every pixel, so every
/// pixel also gets the projection step −γ.
#[test]
fn patch_wise_spreads_the_overflowing_amplification() {
    let eps = 0.2f32;
    let pi = PatchWise::new(eps as f64);
    let g = Tensor::<4>::ones([1, 1, 3, 3], &Default::default());
    let mut amplification = Optimizer::init(&pi, &g);
    for step in 1..=3 {
        let update = inner_values(pi.step(g.clone(), &mut amplification));
        let expected = if step < 3 { -eps / 2.0 } else { -eps / 2.0 - eps / 2.0 };
        assert_all_close(&update, &[expected; 9], 1e-6);
    }
    assert!(Optimizer::validate(&PatchWise { projection_step: 0.0, ..pi }).is_err());
    assert!(Optimizer::validate(&PatchWise { kernel_size: 4, ..pi }).is_err());
    assert!(Optimizer::validate(&PatchWise { kernel_size: 5, ..pi }).is_ok());
}

/// SVRE with one model, one inner step and a reset inner momentum is MI-FGSM: the
/// variance-reduced gradient is then the plain gradient and the outer step sees it L1-normalised.
#[test]
fn svre_with_one_model_and_one_inner_step_is_mi_fgsm() {
    use common_weakness::attack::{Svre, SvreConfig};
    let ensemble = Ensemble::new(vec![super::common::mlp("m", 3, 12, 8, 3)]).unwrap();
    let images = super::common::images(4, [3, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    let threat = ThreatModel::linf(16.0 / 255.0);
    let svre = Svre::new(SvreConfig { inner_steps: Some(1), ..SvreConfig::paper(threat) });
    let expected = mi_fgsm(threat, 10, 1.0).run(&ensemble, images.clone(), &objective).unwrap().adversarial;
    let actual = svre.run(&ensemble, images, &objective).unwrap().adversarial;
    assert_all_close(&values(actual), &values(expected), 1e-6);
}

/// RAP whose late start is past the last iteration never perturbs in reverse: it is its
/// outer optimizer on the ensemble gradient, i.e. MI-FGSM.
#[test]
fn rap_before_its_late_start_is_mi_fgsm() {
    use common_weakness::attack::{Rap, RapConfig};
    let ensemble = super::common::mlp_ensemble(2, 12, 3);
    let images = super::common::images(5, [3, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![2, 1, 0]);
    let threat = ThreatModel::linf(16.0 / 255.0);
    let mi = mi_fgsm(threat, 10, 1.0);
    let rap = Rap::new(RapConfig { iterations: 10, late_start: 10, ..RapConfig::paper(threat) }).with_outer(mi.outer);
    let expected = values(mi.run(&ensemble, images.clone(), &objective).unwrap().adversarial);
    let actual = rap.run(&ensemble, images.clone(), &objective).unwrap().adversarial;
    assert_all_close(&values(actual), &expected, 1e-6);
    // From the first iteration on, the reverse perturbation changes the result.
    let early = Rap::new(RapConfig { iterations: 10, ..RapConfig::paper(threat) }).with_outer(mi.outer);
    assert_ne!(values(early.run(&ensemble, images, &objective).unwrap().adversarial), expected);
}
