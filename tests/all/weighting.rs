//! Ensemble weightings: per-image weights that reduce to the static ensemble, AdaEA's weights
//! and filter against a hand computation, and the errors of a bad weighting.

use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::{ada_ea, AdaEa, Attack, Iterate, Of, Plan, Run, Weighting};
use common_weakness::gradient::EstimatorState;
use common_weakness::objective::{LossKind, Objective};
use common_weakness::prelude::*;
use common_weakness::Stage;

use crate::common::{images, mlp, mlp_ensemble, tensor4, two_class, universal_error, values};

/// Sign steps on the ensemble gradient, each iteration with the per-image weights `weights`
/// (`[N, models]` row-major) set through [`Run::set_weights`], or the ensemble's own.
struct Reweighted {
    weights: Option<(Vec<f32>, [usize; 2])>,
    combination: Combination,
}

impl Iterate for Reweighted {
    type State = EstimatorState;

    fn plan(&self) -> Plan<'_> {
        Plan {
            name: "reweighted",
            threat: ThreatModel::linf(0.1),
            iterations: 3,
            seed: 0,
            combination: self.combination,
            random_start: false,
        }
    }

    fn config(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }

    fn init(&self, _run: &Run<'_>, _x: &Tensor<4>) -> EstimatorState {
        EstimatorState::default()
    }

    fn iterate(&self, run: &mut Run<'_>, memory: &mut EstimatorState, x: Tensor<4>) -> Result<Tensor<4>> {
        if let Some((weights, shape)) = &self.weights {
            run.set_weights(Tensor::from_data(TensorData::new(weights.clone(), *shape), &x.device()))?;
        }
        let gradient = run.gradient(&GradientEstimator::default(), Of::Ensemble, &x, memory)?;
        run.step(Stage::Outer, x, gradient, |g| g.sign().mul_scalar(-0.03))
    }
}

fn reweighted(weights: Option<(Vec<f32>, [usize; 2])>, combination: Combination) -> Reweighted {
    Reweighted { weights, combination }
}

#[test]
fn per_image_weights_equal_to_the_ensembles_give_the_static_run_bit_for_bit() {
    let x = images(1, [3, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    for combination in [Combination::LogitMean, Combination::LogitSum, Combination::LossMean] {
        for mode in [GradientMode::Joint, GradientMode::PerModel] {
            let ensemble = || mlp_ensemble(2, 6, 3).with_gradient_mode(mode);
            let weighted = ensemble().with_weights(vec![2.0, 1.0]).unwrap();
            let fixed = reweighted(None, combination).run(&weighted, x.clone(), &objective).unwrap();
            let per_image = reweighted(Some((vec![2.0, 1.0, 2.0, 1.0, 2.0, 1.0], [3, 2])), combination);
            let outcome = per_image.run(&ensemble(), x.clone(), &objective).unwrap();
            assert_eq!(values(outcome.adversarial), values(fixed.adversarial.clone()), "{combination:?} {mode:?}");
            // The record carries each image's weights normalised, averaged over the images.
            let recorded = outcome.records[0].model_weights.clone().unwrap();
            assert!((recorded[0] - 2.0 / 3.0).abs() < 1e-6 && (recorded[1] - 1.0 / 3.0).abs() < 1e-6);
            assert_eq!(fixed.records[0].model_weights, None);
        }
    }
}

#[test]
fn an_image_weighted_on_one_model_gets_that_models_example() {
    let x = images(2, [2, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1]);
    // Image 0 counts only model 0, image 1 only model 1.
    let attack = reweighted(Some((vec![1.0, 0.0, 0.0, 1.0], [2, 2])), Combination::LogitMean);
    let both = values(attack.run(&mlp_ensemble(2, 6, 3), x.clone(), &objective).unwrap().adversarial);
    for (image, seed) in [(0, 100), (1, 101)] {
        let alone = Ensemble::new(vec![mlp(&format!("mlp{image}"), seed, 6, 8, 3)]).unwrap();
        let one = x.clone().narrow(0, image, 1);
        let label = Objective::untargeted(vec![image]);
        let expected = values(reweighted(None, Combination::LogitMean).run(&alone, one, &label).unwrap().adversarial);
        let got = &both[image * 6..(image + 1) * 6];
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "image {image}: {got:?} against {expected:?}");
        }
    }
}

#[test]
fn bad_per_image_weights_are_refused_by_name() {
    let x = images(3, [2, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1]);
    let ensemble = mlp_ensemble(2, 6, 3);
    let cases = [
        (vec![1.0, 1.0], [1, 2], "[2, 2] (images, models)"),
        (vec![1.0, -1.0, 1.0, 1.0], [2, 2], "finite and ≥ 0"),
        (vec![1.0, 1.0, 0.0, 0.0], [2, 2], "a positive sum for every image"),
        (vec![f32::NAN, 1.0, 1.0, 1.0], [2, 2], "finite and ≥ 0"),
    ];
    for (weights, shape, why) in cases {
        let error = reweighted(Some((weights, shape)), Combination::LogitMean)
            .run(&ensemble, x.clone(), &objective)
            .unwrap_err()
            .to_string();
        assert!(error.contains("model weights") && error.contains(why), "{error}");
    }
}

#[test]
fn ada_ea_on_one_model_is_mi_fgsm_exactly() {
    let ensemble = Ensemble::new(vec![mlp("mlp", 7, 6, 8, 3)]).unwrap();
    let x = images(4, [3, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    let threat = ThreatModel::linf(0.1);
    let adaptive = ada_ea(threat, 5, 1.0).run(&ensemble, x.clone(), &objective).unwrap();
    let plain = mi_fgsm(threat, 5, 1.0).run(&ensemble, x, &objective).unwrap();
    assert_eq!(values(adaptive.adversarial), values(plain.adversarial));
    assert!(adaptive.records.iter().all(|r| r.model_weights == Some(vec![1.0])));
}

#[test]
fn ada_ea_weights_match_a_hand_computation() {
    let ws = [[1.0, 0.5, -0.5, 0.25], [0.2, 1.0, 0.3, -1.0], [-0.6, 0.1, 0.9, 0.4]];
    let ensemble = Ensemble::new(ws.iter().enumerate().map(|(i, w)| two_class(&format!("m{i}"), w)).collect()).unwrap();
    let clean = [0.5f64, 0.3, 0.6, 0.45];
    let x = tensor4(clean.iter().map(|&v| v as f32).collect(), [1, 1, 2, 2]);
    let (epsilon, beta) = (0.1, 10.0);
    let attack = ada_ea(ThreatModel::linf(epsilon), 4, 1.0);
    let outcome = attack.run(&ensemble, x, &Objective::untargeted(vec![0])).unwrap();

    // By hand, at the clean image: model j's probe is one step α = ε/4 up its cross-entropy,
    // x − α·sign(w_j) (all pixels stay in [0, 1]).
    let alpha = epsilon / 4.0;
    let cross_entropy = |w: &[f64; 4], x: &[f64]| (1.0 + (-(0..4).map(|k| w[k] * x[k]).sum::<f64>()).exp()).ln();
    let ws: Vec<[f64; 4]> = ws.iter().map(|w| w.map(f64::from)).collect();
    let probes: Vec<Vec<f64>> = ws.iter().map(|w| (0..4).map(|k| clean[k] - alpha * w[k].signum()).collect()).collect();
    let scores: Vec<f64> = (0..3)
        .map(|j| {
            (0..3)
                .filter(|&i| i != j)
                .map(|i| cross_entropy(&ws[i], &probes[j]) / cross_entropy(&ws[i], &probes[i]))
                .sum()
        })
        .collect();
    let largest = scores.iter().cloned().fold(f64::MIN, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| (beta * (s - largest)).exp()).collect();
    let expected: Vec<f64> = exps.iter().map(|e| e / exps.iter().sum::<f64>()).collect();

    let recorded = outcome.records[0].model_weights.clone().unwrap();
    for (r, e) in recorded.iter().zip(&expected) {
        assert!((r - e).abs() < 1e-4, "{recorded:?} against {expected:?}");
    }
    // The weights change as the iterate moves, and always sum to 1.
    assert!(outcome.records[1].model_weights != outcome.records[0].model_weights);
    for record in &outcome.records {
        assert!((record.model_weights.as_ref().unwrap().iter().sum::<f64>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn the_disparity_filter_freezes_the_pixels_where_the_models_disagree() {
    // The two models' gradients agree in sign on pixels 0 and 2 (cosine 1 across the one
    // channel) and disagree on pixels 1 and 3 (cosine −1, below the threshold −0.3).
    let ensemble =
        Ensemble::new(vec![two_class("a", &[1.0, 1.0, 1.0, 1.0]), two_class("b", &[1.0, -0.5, 2.0, -3.0])]).unwrap();
    let x = tensor4(vec![0.5; 4], [1, 1, 2, 2]);
    let epsilon = 0.1;
    let outcome =
        ada_ea(ThreatModel::linf(epsilon), 1, 1.0).run(&ensemble, x, &Objective::untargeted(vec![0])).unwrap();
    let moved: Vec<f32> = values(outcome.adversarial).iter().map(|v| v - 0.5).collect();
    for (pixel, expected) in [(0, -epsilon), (1, 0.0), (2, -epsilon), (3, 0.0)] {
        assert!((moved[pixel] as f64 - expected).abs() < 1e-6, "{moved:?}");
    }
    // With the threshold at −1 nothing is filtered: every pixel moves.
    let open = Weighting::AdaEa(AdaEa { threshold: -1.0, ..AdaEa::paper(1) });
    let ensemble =
        Ensemble::new(vec![two_class("a", &[1.0, 1.0, 1.0, 1.0]), two_class("b", &[1.0, -0.5, 2.0, -3.0])]).unwrap();
    let x = tensor4(vec![0.5; 4], [1, 1, 2, 2]);
    let unfiltered = mi_fgsm(ThreatModel::linf(epsilon), 1, 1.0).with_weighting(open).run(
        &ensemble,
        x,
        &Objective::untargeted(vec![0]),
    );
    assert!(values(unfiltered.unwrap().adversarial).iter().all(|v| (v - 0.5).abs() > 0.09));
}

#[test]
fn ada_ea_cwa_reweighs_the_reverse_step_and_stays_admissible() {
    let ensemble = mlp_ensemble(3, 6, 3);
    let x = images(5, [4, 1, 2, 3], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1, 2, 0]);
    let config = CwaConfig::paper(0.1);
    let plain = Cwa::mi_cwa(config.clone()).run(&ensemble, x.clone(), &objective).unwrap();
    let weighting = Weighting::AdaEa(AdaEa::paper(config.iterations));
    let adaptive = Cwa::mi_cwa(config).with_weighting(weighting).run(&ensemble, x.clone(), &objective).unwrap();
    let (a, p, clean) = (values(adaptive.adversarial), values(plain.adversarial), values(x));
    assert!(a != p);
    for (v, c) in a.iter().zip(&clean) {
        assert!((0.0..=1.0).contains(v) && (v - c).abs() <= 0.1 + 1e-6);
    }
    assert!(adaptive.records.iter().all(|r| r.model_weights.as_ref().is_some_and(|w| w.len() == 3)));
}

#[test]
fn ada_ea_refuses_a_loss_without_ratios_a_universal_run_and_bad_parameters() {
    let ensemble = mlp_ensemble(2, 6, 3);
    let x = images(6, [2, 1, 2, 3], 0.2, 0.8);
    let attack = ada_ea(ThreatModel::linf(0.1), 2, 1.0);
    let logit = Objective::untargeted(vec![0, 1]).with_loss(LossKind::Logit);
    let error = attack.run(&ensemble, x.clone(), &logit).unwrap_err().to_string();
    assert!(error.contains("AdaEA") && error.contains("cross-entropy"), "{error}");

    let error = universal_error(&attack, &ensemble, x.clone(), vec![0, 1]);
    assert!(error.contains("weighting") && error.contains("per-image attacks only"), "{error}");

    for (bad, name) in [
        (AdaEa { beta: 0.0, ..AdaEa::paper(2) }, "weighting.beta"),
        (AdaEa { probe_step: f64::NAN, ..AdaEa::paper(2) }, "weighting.probe_step"),
        (AdaEa { threshold: 1.5, ..AdaEa::paper(2) }, "weighting.threshold"),
    ] {
        let attack = mi_fgsm(ThreatModel::linf(0.1), 2, 1.0).with_weighting(Weighting::AdaEa(bad));
        let error = attack.run(&ensemble, x.clone(), &Objective::untargeted(vec![0, 1])).unwrap_err().to_string();
        assert!(error.contains(name), "{error}");
    }
}

#[test]
fn targeted_ada_ea_favours_the_model_whose_step_lowers_the_others_targeted_losses() {
    // Three models, one of which ("against") points the opposite way: its step toward the
    // target raises the other two's targeted losses, so it gets the smallest weight.
    let ensemble = Ensemble::new(vec![
        two_class("with", &[1.0, 1.0, 1.0, 1.0]),
        two_class("also with", &[0.8, 1.2, 1.0, 0.9]),
        two_class("against", &[-1.0, -1.0, -1.0, -1.0]),
    ])
    .unwrap();
    let x = tensor4(vec![0.5; 4], [1, 1, 2, 2]);
    let outcome = ada_ea(ThreatModel::linf(0.1), 1, 1.0).run(&ensemble, x, &Objective::targeted(vec![1])).unwrap();
    let weights = outcome.records[0].model_weights.clone().unwrap();
    assert!(weights[2] < weights[0] && weights[2] < weights[1], "{weights:?}");
}
