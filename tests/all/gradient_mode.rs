//! The model-by-model ensemble gradient equals the joint one, for every combination rule,
//! with and without an input transform, in MI-FGSM and MI-CWA.

use common_weakness::attack::{di_mi_fgsm, mi_fgsm, Attack, Cwa, CwaConfig};
use common_weakness::prelude::*;

use super::common::{images, mlp_ensemble, values};

fn run(attack: &dyn Attack, mode: GradientMode) -> (Vec<f32>, Vec<f64>) {
    let ensemble = mlp_ensemble(3, 3 * 8 * 8, 4).with_weights(vec![1.0, 2.5, 0.5]).unwrap().with_gradient_mode(mode);
    let outcome =
        attack.run(&ensemble, images(3, [3, 3, 8, 8], 0.1, 0.9), &Objective::untargeted(vec![0, 1, 3])).unwrap();
    let losses = outcome.records.iter().flat_map(|r| r.loss_per_model.clone()).collect();
    (values(outcome.adversarial), losses)
}

#[test]
fn per_model_gradient_equals_joint_gradient() {
    let budget = 16.0 / 255.0;
    let diversity = GradientEstimator::default().with_diversity(InputDiversity::resize_pad());
    for combination in [Combination::LogitMean, Combination::LogitSum, Combination::LossMean] {
        let attacks: Vec<(&str, Box<dyn Attack>)> = vec![
            ("MI-FGSM", Box::new(mi_fgsm(ThreatModel::linf(budget), 5, 1.0).with_combination(combination))),
            ("DI-MI-FGSM", Box::new(di_mi_fgsm(ThreatModel::linf(budget), 5, 1.0).with_combination(combination))),
            (
                "MI-CWA",
                Box::new(Cwa::mi_cwa(CwaConfig::paper(budget).with_iterations(4)).with_combination(combination)),
            ),
            (
                "DI-MI-CWA",
                Box::new(
                    Cwa::mi_cwa(CwaConfig::paper(budget).with_iterations(4))
                        .with_gradient(diversity)
                        .with_combination(combination),
                ),
            ),
        ];
        for (name, attack) in &attacks {
            let (joint, joint_losses) = run(attack.as_ref(), GradientMode::Joint);
            let (per_model, per_model_losses) = run(attack.as_ref(), GradientMode::PerModel);
            let worst = joint.iter().zip(&per_model).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "{name}, {combination:?}: adversarial images differ by {worst}");
            for (a, b) in joint_losses.iter().zip(&per_model_losses) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{name}, {combination:?}: losses {a} vs {b}");
            }
        }
    }
}

#[test]
fn auto_mode_goes_model_by_model_only_where_it_is_free() {
    // A small ensemble (two models).
    assert!(GradientMode::Auto.per_model(Combination::LossMean, 2));
    assert!(!GradientMode::Auto.per_model(Combination::LogitMean, 2));
    assert!(!GradientMode::Auto.per_model(Combination::LogitSum, 2));
    assert!(GradientMode::PerModel.per_model(Combination::LogitMean, 2));
    assert!(!GradientMode::Joint.per_model(Combination::LossMean, 2));
}

#[test]
fn auto_mode_goes_model_by_model_for_a_large_ensemble() {
    let large = GradientMode::LARGE_ENSEMBLE;
    for combination in [Combination::LogitMean, Combination::LogitSum, Combination::LossMean] {
        assert!(GradientMode::Auto.per_model(combination, large));
        assert!(GradientMode::Auto.per_model(combination, 8));
        assert!(!GradientMode::Joint.per_model(combination, 8));
    }
    assert!(!GradientMode::Auto.per_model(Combination::LogitMean, large - 1));
}
