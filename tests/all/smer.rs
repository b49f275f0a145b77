//! SMER: its reduction to MI-FGSM, its weight steps against a hand computation, its outer role
//! and its errors.

use common_weakness::attack::{Attack, AttackConfig, Smer, SmerConfig};
use common_weakness::objective::{LossKind, Objective};
use common_weakness::optim::Adam;
use common_weakness::prelude::*;

use crate::common::{images, mlp, mlp_ensemble, tensor4, two_class, universal_error, values};

fn config(threat: ThreatModel) -> SmerConfig {
    SmerConfig { random_start: false, ..SmerConfig::paper(threat) }
}

#[test]
fn smer_without_reweighing_on_one_model_and_one_sweep_is_mi_fgsm() {
    // One inner step from x_t, then the outer MI step on its L1-normalised gradient: MI-FGSM.
    let ensemble = Ensemble::new(vec![mlp("mlp", 3, 6, 8, 3)]).unwrap();
    let x = images(7, [3, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    let threat = ThreatModel::linf(0.1);
    let smer = Smer::new(SmerConfig { rounds: 1, learning_rate: 0.0, ..config(threat) });
    let swept = smer.run(&ensemble, x.clone(), &objective).unwrap();
    let plain = mi_fgsm(threat, 10, 1.0).run(&ensemble, x, &objective).unwrap();
    assert_eq!(values(swept.adversarial), values(plain.adversarial));
}

#[test]
fn smers_weights_step_toward_the_adversarial_goal_as_computed_by_hand() {
    let (wa, wb) = ([1.0, 0.5, 0.25, 0.25], [0.5, -0.25, 1.0, 1.5]);
    let ensemble = Ensemble::new(vec![two_class("a", &wa), two_class("b", &wb)]).unwrap();
    let x = tensor4(vec![0.5; 4], [1, 1, 2, 2]);
    // A step so small that both sweep steps see the clean image: the weights take two SGD
    // steps at x.
    let (lr, decay) = (0.5, 0.002);
    let smer = Smer::new(SmerConfig {
        iterations: 1,
        rounds: 1,
        step_size: 1e-7,
        learning_rate: lr,
        weight_decay: decay,
        ..config(ThreatModel::linf(0.1))
    });
    let outcome = smer.run(&ensemble, x, &Objective::untargeted(vec![0])).unwrap();

    // By hand: s_i = x·w_i; the weighted ensemble's objective is L = log p_0 = −ln(1 + e^{−S}),
    // S = (w_a s_a + w_b s_b)/2, so ∂L/∂w_i = σ(−S)·s_i/2, and |L| = ln(1 + e^{−S}).
    let s = [wa, wb].map(|w| 0.5 * w.iter().map(|&v| v as f64).sum::<f64>());
    let mut w = [1.0f64, 1.0];
    for _ in 0..2 {
        let big_s = (w[0] * s[0] + w[1] * s[1]) / 2.0;
        let sigma = 1.0 / (1.0 + big_s.exp());
        let magnitude = (1.0 + (-big_s).exp()).ln();
        w = [0, 1].map(|i| (w[i] - lr * (sigma * s[i] / 2.0 / magnitude + decay * w[i])).max(0.0));
    }
    let expected = [w[0] / (w[0] + w[1]), w[1] / (w[0] + w[1])];
    let recorded = outcome.records[0].model_weights.clone().unwrap();
    for (r, e) in recorded.iter().zip(&expected) {
        assert!((r - e).abs() < 1e-4, "{recorded:?} against {expected:?}");
    }
    // Model b's logits hold the label more firmly (s_b = 1.375 against s_a = 1), so it loses
    // more weight: the weights shift toward the model that is closer to being fooled.
    assert!(recorded[1] < 0.5, "{recorded:?}");
}

#[test]
fn smer_takes_any_outer_optimizer_and_reruns_from_its_json_record() {
    let ensemble = mlp_ensemble(3, 6, 3);
    let x = images(8, [2, 1, 2, 3], 0.2, 0.8);
    let objective = Objective::untargeted(vec![0, 1]);
    let threat = ThreatModel::linf(0.1);
    let adam = Smer::new(SmerConfig { iterations: 3, ..SmerConfig::paper(threat) }).with_outer(Adam::new(0.02));
    let first = adam.run(&ensemble, x.clone(), &objective).unwrap();
    assert!(first.info.config["smer"]["outer"].get("adam").is_some(), "{}", first.info.config);
    let again = AttackConfig::from_record(&first.info.config).unwrap().build();
    let second = again.run(&ensemble, x.clone(), &objective).unwrap();
    assert_eq!(values(first.adversarial.clone()), values(second.adversarial));
    let mi = Smer::new(SmerConfig { iterations: 3, ..SmerConfig::paper(threat) });
    assert!(values(mi.run(&ensemble, x.clone(), &objective).unwrap().adversarial) != values(first.adversarial.clone()));
    for (v, c) in values(first.adversarial).iter().zip(values(x)) {
        assert!((0.0..=1.0).contains(v) && (v - c).abs() <= 0.1 + 1e-6);
    }
}

#[test]
fn smer_refuses_a_loss_without_a_logarithm_a_universal_run_and_bad_parameters() {
    let ensemble = mlp_ensemble(2, 6, 3);
    let x = images(9, [2, 1, 2, 3], 0.2, 0.8);
    let threat = ThreatModel::linf(0.1);
    let smer = Smer::new(SmerConfig::paper(threat));
    let margin = Objective::untargeted(vec![0, 1]).with_loss(LossKind::Logit);
    let error = smer.run(&ensemble, x.clone(), &margin).unwrap_err().to_string();
    assert!(error.contains("SMER") && error.contains("cross-entropy"), "{error}");

    let error = universal_error(&smer, &ensemble, x.clone(), vec![0, 1]);
    assert!(error.contains("rounds") && error.contains("per-image attacks only"), "{error}");

    for (bad, name) in [
        (SmerConfig { rounds: 0, ..SmerConfig::paper(threat) }, "rounds"),
        (SmerConfig { learning_rate: -1.0, ..SmerConfig::paper(threat) }, "learning_rate"),
        (SmerConfig { weight_decay: f64::NAN, ..SmerConfig::paper(threat) }, "weight_decay"),
        (SmerConfig { step_size: 0.0, ..SmerConfig::paper(threat) }, "step_size"),
    ] {
        let error =
            Smer::new(bad).run(&ensemble, x.clone(), &Objective::untargeted(vec![0, 1])).unwrap_err().to_string();
        assert!(error.contains(name), "{error}");
    }
}
