//! Attack configurations round-trip through JSON and rerun identically.

use common_weakness::attack::{mi_fgsm, CwaConfig};
use common_weakness::optim::{Adam, Momentum, Sgd};
use common_weakness::prelude::*;

use super::common::{images, mlp_ensemble, values};

#[test]
fn attack_configs_round_trip_through_json() {
    let mi_cwa = Cwa::mi_cwa(CwaConfig::reference(8.0 / 255.0).with_seed(42));
    let json = serde_json::to_string_pretty(&mi_cwa).unwrap();
    let back: Cwa<Sgd, Momentum, Momentum> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, mi_cwa);
    assert!(json.contains("\"L1Batch\"") && json.contains("\"LogitSum\""), "{json}");

    let adam = Cwa::adam_cwa(CwaConfig::paper(16.0 / 255.0));
    let back: Cwa<Sgd, Momentum, Adam> = serde_json::from_str(&serde_json::to_string(&adam).unwrap()).unwrap();
    assert_eq!(back, adam);

    let mi = mi_fgsm(ThreatModel::l2(1.0), 10, 1.0);
    let back: common_weakness::attack::Iterative<Momentum> =
        serde_json::from_str(&serde_json::to_string(&mi).unwrap()).unwrap();
    assert_eq!(back, mi);

    let config = CwaConfig::paper(0.05);
    let back: CwaConfig = serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
    assert_eq!(back, config);
}

#[test]
fn a_run_records_its_config_and_the_config_reruns_it() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(3, [2, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![1, 2]);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1).with_seed(9));
    let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
    assert_eq!(outcome.info.seed, 9);
    let rebuilt: Cwa<Sgd, Momentum, Momentum> = serde_json::from_value(outcome.info.config.clone()).unwrap();
    let again = rebuilt.run(&ensemble, x, &objective).unwrap();
    assert_eq!(values(again.adversarial), values(outcome.adversarial));
}

#[test]
fn every_registered_attack_round_trips_builds_and_runs() {
    use common_weakness::attack::{registry, AttackSpec};
    let ensemble = mlp_ensemble(2, 48, 4);
    let x = images(9, [2, 3, 4, 4], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]);
    let entries = registry();
    assert_eq!(entries.len(), 18);
    for entry in entries {
        let json = serde_json::to_string(&entry.defaults).unwrap();
        let spec: AttackSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(spec, entry.defaults);
        let attack = spec.build::<super::common::B>();
        assert_eq!(attack.name(), entry.name);
        let listing = entry.to_string();
        assert!(listing.contains(entry.name) && listing.contains("defaults:") && listing.contains(entry.reference));
        let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
        assert!(outcome.final_loss.iter().zip(&outcome.initial_loss).all(|(a, b)| a < b), "{}", entry.name);
    }
    // Stochastic attacks take their seed from the spec (0 when absent).
    let spec = |seed: u64| AttackSpec::Ssa { threat: ThreatModel::linf(0.1), iterations: 3, momentum: 1.0, seed };
    let run = |seed: u64| {
        values(spec(seed).build::<super::common::B>().run(&ensemble, x.clone(), &objective).unwrap().adversarial)
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
    let no_seed: AttackSpec = serde_json::from_str(
        r#"{"attack": "ssa", "threat": {"norm": "Linf", "budget": 0.1}, "iterations": 3, "momentum": 1.0}"#,
    )
    .unwrap();
    assert_eq!(no_seed, spec(0));
    let unknown = serde_json::from_str::<AttackSpec>(r#"{"attack": "no-such-attack"}"#);
    assert!(unknown.is_err());
}
