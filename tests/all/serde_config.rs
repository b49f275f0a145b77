//! Attack configurations round-trip through JSON and rerun identically.

use common_weakness::attack::{mi_fgsm, AttackConfig, CwaConfig, Rap, RapConfig, Svre, SvreConfig};
use common_weakness::optim::{Adam, Momentum, Optimizer, Sgd};
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

/// Runs `attack`, rebuilds it from the JSON text of its record alone, runs that, and checks
/// both give the same images.
fn reruns_from_its_record(attack: &dyn Attack) {
    let ensemble = mlp_ensemble(2, 48, 4);
    let x = images(3, [2, 3, 4, 4], 0.0, 1.0);
    // A pool for Admix (the other attacks ignore it).
    let objective = Objective::untargeted(vec![1, 2]).with_mixing_pool(images(4, [2, 3, 4, 4], 0.0, 1.0), vec![0, 3]);
    let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
    let text = serde_json::to_string(&outcome.info.config).unwrap();
    let config = AttackConfig::from_record(&serde_json::from_str(&text).unwrap()).unwrap();
    let again = config.build().run(&ensemble, x, &objective).unwrap();
    assert_eq!(again.info.config, outcome.info.config, "{}", attack.name());
    assert_eq!(values(again.adversarial), values(outcome.adversarial), "{}", attack.name());
}

#[test]
fn a_recorded_run_reruns_from_its_json_alone_composed_attacks_included() {
    let di_ti = GradientEstimator::default()
        .with_diversity(InputDiversity::resize_pad())
        .with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 });
    let vmi = GradientEstimator::default().with_sampling(Sampling::VarianceTuning { samples: 3, range: 1.5 });
    reruns_from_its_record(&Cwa::mi_cwa(CwaConfig::paper(0.1).with_seed(9)));
    reruns_from_its_record(
        &Cwa::mi_cwa(CwaConfig::paper(0.1).with_seed(9))
            .with_outer(Adam::new(0.01))
            .with_gradient(di_ti)
            .with_combination(Combination::LogitSum)
            .with_order(VisitOrder::Shuffled),
    );
    reruns_from_its_record(
        &Svre::new(SvreConfig::paper(ThreatModel::linf(0.1))).with_outer(Adam::new(0.01)).with_gradient(vmi),
    );
    let rap = RapConfig { iterations: 4, reverse_steps: 2, ..RapConfig::paper(ThreatModel::l2(1.0)) };
    reruns_from_its_record(&Rap::new(rap).with_gradient(di_ti));
    reruns_from_its_record(&common_weakness::attack::pi_fgsm(ThreatModel::linf(0.1), 3).with_gradient(vmi));
}

/// A step of the raw gradient, without `Serialize`.
struct Unserialisable;

impl Optimizer for Unserialisable {
    type State = ();
    fn init(&self, _like: &burn::tensor::Tensor<4>) {}
    fn step(&self, gradient: burn::tensor::Tensor<4>, _state: &mut ()) -> burn::tensor::Tensor<4> {
        gradient.mul_scalar(-0.01)
    }
}

#[test]
fn a_record_with_a_custom_optimizer_refuses_to_read_back_naming_it() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_inner(Unserialisable);
    let outcome = attack.run(&ensemble, images(3, [2, 3, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![1, 2])).unwrap();
    assert!(outcome.info.config["cwa"]["inner"]["custom"].as_str().unwrap().ends_with("Unserialisable"));
    let error = AttackConfig::from_record(&outcome.info.config).unwrap_err();
    assert!(error.to_string().contains("custom"), "{error}");
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
        let attack = spec.build();
        assert_eq!(attack.name(), entry.name);
        let listing = entry.to_string();
        assert!(listing.contains(entry.name) && listing.contains("defaults:") && listing.contains(entry.reference));
        let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
        assert!(outcome.final_loss.iter().zip(&outcome.initial_loss).all(|(a, b)| a < b), "{}", entry.name);
    }
    // Stochastic attacks take their seed from the spec (0 when absent).
    let spec = |seed: u64| AttackSpec::Ssa { threat: ThreatModel::linf(0.1), iterations: 3, momentum: 1.0, seed };
    let run = |seed: u64| values(spec(seed).build().run(&ensemble, x.clone(), &objective).unwrap().adversarial);
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

#[test]
fn with_seed_sets_the_recorded_seed() {
    for entry in common_weakness::attack::registry() {
        let config = entry.defaults.config();
        // Every attack records its seed (a deterministic one ignores it), and reseeding back
        // restores the original.
        let reseeded = config.clone().with_seed(7);
        assert_eq!(reseeded.clone().with_seed(0), config, "{}", entry.name);
        assert_ne!(reseeded, config, "{}", entry.name);
    }
}

#[test]
fn a_cwa_family_spec_needs_only_its_threat_model_and_still_refuses_unknown_fields() {
    use common_weakness::attack::{AttackSpec, Flavor};
    let spec: AttackSpec =
        serde_json::from_str(r#"{"attack": "mi-cwa", "threat": {"norm": "Linf", "budget": 0.05}, "seed": 3}"#).unwrap();
    assert_eq!(spec, AttackSpec::MiCwa(CwaConfig::paper(0.05).with_seed(3)));
    let reference: CwaConfig =
        serde_json::from_str(r#"{"threat": {"norm": "L2", "budget": 1.0}, "flavor": "Reference", "momentum": 0.5}"#)
            .unwrap();
    let expected = CwaConfig { momentum: 0.5, ..CwaConfig::reference(1.0).with_threat(ThreatModel::l2(1.0)) };
    assert_eq!((reference.flavor, &reference), (Flavor::Reference, &expected));
    let typo = serde_json::from_str::<CwaConfig>(r#"{"threat": {"norm": "Linf", "budget": 0.05}, "iteration": 5}"#);
    assert!(typo.unwrap_err().to_string().contains("unknown field `iteration`"));
    let missing = serde_json::from_str::<CwaConfig>(r#"{"iterations": 5}"#);
    assert!(missing.unwrap_err().to_string().contains("missing field `threat`"));
}

#[test]
fn a_spec_needs_only_its_attack_and_threat_model() {
    use common_weakness::attack::{catalogue_at, registry_at, AttackSpec};
    use serde_json::json;

    for threat in [ThreatModel::linf(8.0 / 255.0), ThreatModel::l2(1.0)] {
        for entry in registry_at(threat).into_iter().chain(catalogue_at(threat)) {
            let tag = serde_json::to_value(&entry.defaults).unwrap()["attack"].clone();
            let read: AttackSpec = serde_json::from_value(json!({ "attack": tag, "threat": threat })).unwrap();
            assert_eq!(read, entry.defaults, "{}", entry.name);
        }
    }
    let threat = ThreatModel::linf(0.1);
    let read = |spec: serde_json::Value| serde_json::from_value::<AttackSpec>(spec);
    // A field given overrides its default; the others keep theirs (PGD's step is ε/4).
    let pgd = read(json!({ "attack": "pgd", "threat": threat, "iterations": 3 })).unwrap();
    assert_eq!(pgd, AttackSpec::Pgd { threat, iterations: 3, step_size: 0.1 / 4.0, seed: 0 });
    // The CWA presets default to their flavour's values.
    let reference = read(json!({ "attack": "mi-cwa", "threat": threat, "flavor": "Reference" })).unwrap();
    assert_eq!(reference, AttackSpec::MiCwa(CwaConfig::reference(0.1)));
    let svre = read(json!({ "attack": "svre", "threat": threat, "seed": 4 })).unwrap();
    assert_eq!(svre, AttackSpec::Svre(SvreConfig { seed: 4, ..SvreConfig::paper(threat) }));
    let rap = read(json!({ "attack": "rap", "threat": threat })).unwrap();
    assert_eq!(rap, AttackSpec::Rap(RapConfig::paper(threat)));
    // A field the attack does not have, or no threat model, is still refused by name.
    let fgsm = read(json!({ "attack": "fgsm", "threat": threat, "momentum": 1.0 })).unwrap_err();
    assert!(fgsm.to_string().contains("momentum"), "{fgsm}");
    let missing = read(json!({ "attack": "bim", "iterations": 3 })).unwrap_err();
    assert!(missing.to_string().contains("threat"), "{missing}");
    let unknown = read(json!({ "attack": "fgsn", "threat": threat })).unwrap_err();
    assert!(unknown.to_string().contains("fgsn"), "{unknown}");
}

#[test]
fn every_catalogue_attack_builds_by_name_and_reruns_from_its_record() {
    use common_weakness::attack::catalogue_at;
    for entry in catalogue_at(ThreatModel::linf(0.1)) {
        let attack = entry.defaults.build();
        assert_eq!(attack.name(), entry.name);
        reruns_from_its_record(attack.as_ref());
    }
}
