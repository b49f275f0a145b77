//! Property tests: projection, per-sample norms, and every attack's admissibility after
//! every iteration.

use burn::tensor::Tensor;
use common_weakness::attack::{bim, di_mi_fgsm, fgsm, mi_fgsm, pgd, ssa, ti_mi_fgsm, vmi_fgsm, CwaConfig};
use common_weakness::norm::{self, Normalization};
use common_weakness::optim::Nesterov;
use common_weakness::prelude::*;
use proptest::prelude::*;

use super::common::{images, mlp_ensemble, values};

fn threat_strategy() -> impl Strategy<Value = ThreatModel> {
    prop_oneof![(0.001f64..0.5).prop_map(ThreatModel::linf), (0.01f64..3.0).prop_map(ThreatModel::l2),]
}

fn shape_strategy() -> impl Strategy<Value = [usize; 4]> {
    (1usize..4, 1usize..3, 1usize..4, 1usize..4).prop_map(|(n, c, h, w)| [n, c, h, w])
}

/// Per-sample norm of x − x_nat in the threat's norm.
fn distances(threat: &ThreatModel, x: Tensor<4>, x_nat: Tensor<4>) -> Vec<f32> {
    let delta = x - x_nat;
    values(match threat.norm {
        Norm::Linf => norm::linf(delta),
        Norm::L2 => norm::l2(delta),
    })
}

/// Asserts that `x` is admissible: inside the ball (tolerance 1e-6, or relative 1e-5 for L2
/// where each pixel's f32 rounding adds up over the image) and inside [0, 1].
fn assert_admissible(threat: &ThreatModel, x: Tensor<4>, x_nat: Tensor<4>) -> std::result::Result<(), TestCaseError> {
    let tolerance = match threat.norm {
        Norm::Linf => 1e-6,
        Norm::L2 => 1e-6 + 1e-5 * threat.budget as f32,
    };
    for d in distances(threat, x.clone(), x_nat) {
        prop_assert!(d <= threat.budget as f32 + tolerance, "distance {} > budget {}", d, threat.budget);
    }
    for v in values(x) {
        prop_assert!((0.0..=1.0).contains(&v), "pixel {} outside [0, 1]", v);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn projection_is_admissible_and_idempotent(
        threat in threat_strategy(), shape in shape_strategy(), seed in any::<u64>(), spread in 0.0f32..3.0,
    ) {
        let x_nat = images(seed, shape, 0.0, 1.0);
        let x = images(seed ^ 1, shape, -spread, 1.0 + spread);
        let projected = threat.project(x, &x_nat);
        assert_admissible(&threat, projected.clone(), x_nat.clone())?;
        let twice = threat.project(projected.clone(), &x_nat);
        for (a, b) in values(projected).into_iter().zip(values(twice)) {
            prop_assert!((a - b).abs() <= 1e-6, "projection moved an admissible point: {} -> {}", a, b);
        }
    }

    #[test]
    fn random_start_is_admissible(threat in threat_strategy(), shape in shape_strategy(), seed in any::<u64>()) {
        let x_nat = images(seed, shape, 0.0, 1.0);
        let mut rng = common_weakness::rng::AttackRng::new(seed);
        assert_admissible(&threat, threat.random_start(&x_nat, &mut rng), x_nat)?;
    }

    #[test]
    fn normalisation_gives_unit_norms_and_no_nan(shape in shape_strategy(), seed in any::<u64>(), zero_sample in any::<bool>()) {
        let mut x = images(seed, shape, -5.0, 5.0);
        if zero_sample {
            let [_, c, h, w] = shape;
            let zeros = Tensor::zeros([1, c, h, w], &x.device());
            x = x.slice_assign([0..1, 0..c, 0..h, 0..w], zeros);
        }
        for (kind, measure) in [
            (Normalization::L1, norm::l1 as fn(Tensor<4>) -> Tensor<1>),
            (Normalization::L2, norm::l2),
        ] {
            let norms = values(measure(kind.apply(x.clone())));
            for (i, n) in norms.into_iter().enumerate() {
                prop_assert!(n.is_finite());
                let expected = if zero_sample && i == 0 { 0.0 } else { 1.0 };
                prop_assert!((n - expected).abs() < 1e-4, "{:?} norm of sample {} is {}", kind, i, n);
            }
        }
        let unit = Direction::L2Unit.apply(Tensor::<4>::zeros(shape, &x.device()));
        prop_assert!(values(unit).iter().all(|v| *v == 0.0));
    }
}

use crate::common::StopAfter;
use common_weakness::norm::Direction;

/// Every attack of the crate, configured for `threat`.
fn every_attack(threat: ThreatModel, seed: u64) -> Vec<(String, Box<dyn Attack>)> {
    let paper = CwaConfig::paper(threat.budget).with_threat(threat).with_seed(seed);
    let reference = CwaConfig::reference(threat.budget).with_threat(threat).with_seed(seed);
    let mut random_cwa = Cwa::mi_cwa(paper.clone());
    random_cwa.settings.random_start = true;
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(fgsm(threat)),
        Box::new(bim(threat, 3)),
        Box::new(pgd(threat, 3, threat.budget / 2.0, seed)),
        Box::new(mi_fgsm(threat, 3, 1.0)),
        Box::new(Cwa::mi_cwa(paper.clone())),
        Box::new(Cwa::mi_cwa(reference.clone())),
        Box::new(Cwa::mi_cse(paper.clone())),
        Box::new(Cwa::mi_sam(reference.clone())),
        Box::new(Cwa::adam_cwa(paper.clone())),
        Box::new(random_cwa.named("MI-CWA random start")),
        Box::new(Cwa::mi_cwa(paper.clone()).with_outer(Nesterov::sign(threat.budget / 5.0, 1.0)).named("Nesterov-CWA")),
        Box::new(di_mi_fgsm(threat, 3, 1.0)),
        Box::new(common_weakness::attack::ni_fgsm(threat, 3, 1.0)),
        Box::new(common_weakness::attack::pi_fgsm(threat, 3)),
        Box::new(common_weakness::attack::Svre::new(common_weakness::attack::SvreConfig::paper(threat))),
        Box::new(common_weakness::attack::Rap::new(common_weakness::attack::RapConfig::paper(threat))),
        Box::new(common_weakness::attack::Rap::new(common_weakness::attack::RapConfig::reference(threat))),
        Box::new(ti_mi_fgsm(threat, 3, 1.0)),
        Box::new(vmi_fgsm(threat, 3, 1.0)),
        Box::new(ssa(threat, 3, 1.0)),
        Box::new(Cwa::vmi_cwa(paper.clone())),
        Box::new(Cwa::ssa_cwa(reference.clone())),
        Box::new(
            Cwa::mi_cwa(paper)
                .with_gradient(
                    GradientEstimator::default()
                        .with_diversity(InputDiversity::Translate { padding: 1 })
                        .with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 }),
                )
                .named("DI-TI-MI-CWA"),
        ),
    ];
    attacks.into_iter().map(|a| (a.name().to_string(), a)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// ‖x_adv − x_nat‖ ≤ budget and x_adv ∈ [0, 1] after every iteration of every attack: the
    /// run is repeated with 1, 2 and 3 iterations (runs are deterministic, so the k-th run
    /// ends at the k-th iterate).
    #[test]
    fn every_attack_stays_admissible_after_every_iteration(
        threat in threat_strategy(), seed in any::<u64>(), batch in 1usize..3,
    ) {
        let ensemble = mlp_ensemble(3, 12, 4);
        let x_nat = images(seed, [batch, 3, 2, 2], 0.0, 1.0);
        let labels = (0..batch).map(|i| (seed as usize + i) % 4).collect();
        let objective = Objective::untargeted(labels);
        for (name, attack) in every_attack(threat, seed) {
            for iterations in 1..=3 {
                let outcome = run_for(attack.as_ref(), iterations, &ensemble, x_nat.clone(), &objective);
                prop_assert!(outcome.records.iter().all(|r| r.perturbation_linf.is_finite()), "{}", name);
                assert_admissible(&threat, outcome.adversarial, x_nat.clone())?;
            }
        }
    }
}

/// Runs `attack`, stopping it after `iterations` iterations with an observer.
fn run_for(
    attack: &dyn Attack,
    iterations: usize,
    ensemble: &Ensemble,
    x_nat: Tensor<4>,
    objective: &Objective,
) -> AttackOutcome {
    let mut stopper = StopAfter::new(iterations);
    attack.run_observed(ensemble, x_nat, objective, &mut stopper).unwrap()
}
