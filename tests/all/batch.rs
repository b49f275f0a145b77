//! Batch independence: of attacks (paper flavour) and of surrogates (batch norm).

use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::Tensor;
use common_weakness::attack::CwaConfig;
use common_weakness::prelude::*;
use common_weakness::surrogate::{check_batch_independence, from_fn, FrozenBatchNorm};

use super::common::{device, images, mlp_ensemble, values};

fn attack_each_alone(attack: &dyn Attack, ensemble: &Ensemble, x: Tensor<4>, labels: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        let one = x.clone().narrow(0, i, 1);
        out.extend(values(attack.run(ensemble, one, &Objective::untargeted(vec![label])).unwrap().adversarial));
    }
    out
}

#[test]
fn paper_flavour_attacks_a_batch_as_each_image_alone() {
    let ensemble = mlp_ensemble(3, 12, 4);
    let x = images(11, [5, 3, 2, 2], 0.0, 1.0);
    let labels = [0, 1, 2, 3, 1];
    let config = CwaConfig::paper(16.0 / 255.0);
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(Cwa::mi_cwa(config.clone())),
        Box::new(Cwa::adam_cwa(config.clone())),
        Box::new(Cwa::mi_sam(config.clone())),
        Box::new(Cwa::mi_cwa(config.with_threat(ThreatModel::l2(0.5)))),
    ];
    for attack in attacks {
        let batched =
            values(attack.run(&ensemble, x.clone(), &Objective::untargeted(labels.to_vec())).unwrap().adversarial);
        let alone = attack_each_alone(attack.as_ref(), &ensemble, x.clone(), &labels);
        let worst = batched.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "{}: batch and single-image results differ by {worst}", attack.name());
    }
}

/// The reference flavour normalises the pseudo-gradient over the whole batch, as the
/// authors' code does: each image's result then depends on its neighbours. This test pins
/// that documented behaviour.
#[test]
fn reference_flavour_depends_on_the_batch_as_the_authors_code_does() {
    let ensemble = mlp_ensemble(3, 12, 4);
    let x = images(11, [5, 3, 2, 2], 0.0, 1.0);
    let labels = [0, 1, 2, 3, 1];
    // An unsaturated inner step, so that displacement sizes vary between iterations and
    // images (with β = 250 every inner step hits the ε-box and hides the effect).
    let attack = Cwa::mi_cwa(CwaConfig { inner_step_size: 0.02, ..CwaConfig::reference(16.0 / 255.0) });
    let batched =
        values(attack.run(&ensemble, x.clone(), &Objective::untargeted(labels.to_vec())).unwrap().adversarial);
    let alone = attack_each_alone(&attack, &ensemble, x, &labels);
    assert!(batched.iter().zip(&alone).any(|(a, b)| (a - b).abs() > 1e-4));
}

fn bn_model(bn: BatchNorm) -> impl Surrogate {
    from_fn("bn", move |x: Tensor<4>| bn.forward(x).flatten::<2>(1, 3))
}

fn trained_batch_norm() -> BatchNorm {
    let mut bn = BatchNormConfig::new(3).init(&device());
    bn.running_mean = burn::module::RunningState::new(Tensor::from_floats([0.2, 0.5, -0.1], &device()));
    bn.running_var = burn::module::RunningState::new(Tensor::from_floats([0.5, 2.0, 1.5], &device()));
    bn
}

use common_weakness::surrogate::Surrogate;

#[test]
fn batch_norm_under_autodiff_is_detected_and_frozen_batch_norm_fixes_it() {
    let x = images(5, [4, 3, 2, 2], 0.0, 1.0);
    let error = check_batch_independence(&bn_model(trained_batch_norm()), x.clone(), 1e-5).unwrap_err();
    assert!(matches!(error, Error::BatchDependent { .. }), "{error}");
    let frozen = FrozenBatchNorm::from(&trained_batch_norm());
    let fixed = from_fn("frozen", move |x: Tensor<4>| frozen.forward(x).flatten::<2>(1, 3));
    let report = check_batch_independence(&fixed, x.clone(), 1e-5).unwrap();
    assert!(report.max_difference <= 1e-5);
    // The frozen layer computes inference-mode batch norm: (x − mean)/√(var + ε)·γ + β.
    let out = values(fixed.forward(x.clone()));
    let inputs = values(x);
    let (mean, var) = ([0.2f32, 0.5, -0.1], [0.5f32, 2.0, 1.5]);
    for (i, (o, v)) in out.iter().zip(&inputs).enumerate() {
        let c = (i / 4) % 3;
        approx::assert_relative_eq!(*o, (v - mean[c]) / (var[c] + 1e-5).sqrt(), epsilon = 1e-5);
    }
}

#[test]
fn a_burn_batch_norm_wrapped_by_from_module_runs_in_inference_mode_unchanged() {
    use common_weakness::surrogate::from_module;

    let x = images(5, [4, 3, 2, 2], 0.0, 1.0);
    let model = from_module("bn", trained_batch_norm(), |bn: &BatchNorm, x: Tensor<4>| bn.forward(x).flatten(1, 3));
    let report = check_batch_independence(&model, x.clone(), 1e-5).unwrap();
    assert!(report.max_difference <= 1e-5);
    let frozen = FrozenBatchNorm::from(&trained_batch_norm());
    let expected = values(frozen.forward(x.clone()).flatten::<2>(1, 3));
    for (a, b) in values(model.forward(x.clone())).iter().zip(&expected) {
        approx::assert_relative_eq!(*a, *b, epsilon = 1e-5);
    }
    // An attack on it gives each image the example it gets alone.
    let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
    let labels = [0, 3, 7, 11];
    let attack = common_weakness::attack::mi_fgsm(ThreatModel::linf(0.1), 3, 1.0);
    let batched =
        values(attack.run(&ensemble, x.clone(), &Objective::untargeted(labels.to_vec())).unwrap().adversarial);
    let alone = attack_each_alone(&attack, &ensemble, x, &labels);
    for (a, b) in batched.iter().zip(&alone) {
        approx::assert_abs_diff_eq!(*a, *b, epsilon = 1e-5);
    }
}
