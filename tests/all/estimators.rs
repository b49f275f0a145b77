//! Gradient estimators (DI, TI, VMI, SSA) and their compositions with the attack loops.

use burn::tensor::Tensor;
use common_weakness::attack::{bim, di_mi_fgsm, ssa, ti_mi_fgsm, vmi_fgsm, CwaConfig, LoopSettings};
use common_weakness::gradient::spectrum::{dct2, dct_matrix, idct2};
use common_weakness::gradient::Copies;
use common_weakness::optim::{Momentum, Sgd};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;

use super::common::{device, images, mlp_ensemble, values};

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn dct_is_orthonormal_and_exactly_invertible() {
    let x = images(1, [2, 3, 5, 7], -1.0, 1.0);
    let round_trip = idct2(dct2(x.clone()));
    assert!(max_difference(&values(round_trip), &values(x)) < 1e-5);
    let d = dct_matrix(6, &device());
    let identity = values(d.clone().matmul(d.transpose()));
    for (i, v) in identity.iter().enumerate() {
        let expected = if i / 6 == i % 6 { 1.0 } else { 0.0 };
        assert!((v - expected).abs() < 1e-5, "D·Dᵀ[{}] = {v}", i);
    }
    // A constant image has all its energy in the DC coefficient: √(H·W)·value.
    let constant = Tensor::<4>::full([1, 1, 4, 4], 0.5, &device());
    let spectrum = values(dct2(constant));
    assert!((spectrum[0] - 2.0).abs() < 1e-5 && spectrum[1..].iter().all(|v| v.abs() < 1e-5));
}

#[test]
fn ti_kernel_sums_to_one_and_smooths_an_impulse_into_itself() {
    for smoothing in [GaussianSmoothing::default(), GaussianSmoothing { kernel_size: 5, sigma: 1.0 }] {
        assert!((smoothing.kernel().iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let smoothing = GaussianSmoothing { kernel_size: 3, sigma: 0.8 };
    let mut impulse = vec![0.0f32; 25];
    impulse[12] = 1.0;
    let smoothed = values(smoothing.apply(super::common::tensor4(impulse, [1, 1, 5, 5])));
    let kernel = smoothing.kernel();
    for (row, k_row) in (1..4).zip(0..3) {
        for (col, k_col) in (1..4).zip(0..3) {
            assert!((smoothed[row * 5 + col] - kernel[k_row * 3 + k_col]).abs() < 1e-6);
        }
    }
    assert!(GaussianSmoothing { kernel_size: 4, sigma: 1.0 }.validate().is_err());
}

#[test]
fn di_keeps_the_input_shape_and_translation_keeps_pixels() {
    let x = images(2, [4, 3, 20, 20], 0.0, 1.0);
    let mut rng = AttackRng::new(3);
    for diversity in [
        InputDiversity::resize_pad(),
        InputDiversity::ResizePad { probability: 1.0, resize_rate: 1.3 },
        InputDiversity::Translate { padding: 3 },
    ] {
        assert_eq!(diversity.apply(x.clone(), &mut rng).dims(), [4, 3, 20, 20]);
    }
    // Probability 0 is the identity; a translation moves pixels without changing them.
    let none = InputDiversity::ResizePad { probability: 0.0, resize_rate: 1.1 };
    assert_eq!(values(none.apply(x.clone(), &mut rng)), values(x.clone()));
    let shifted = values(InputDiversity::Translate { padding: 2 }.apply(x.clone(), &mut rng));
    let original = values(x);
    assert!(shifted.iter().all(|v| *v == 0.0 || original.contains(v)));
    assert!(InputDiversity::ResizePad { probability: 1.5, resize_rate: 1.1 }.validate().is_err());
    assert!(InputDiversity::ResizePad { probability: 0.5, resize_rate: 0.9 }.validate().is_err());
}

#[test]
fn one_sample_without_noise_is_the_plain_gradient() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(4, [3, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    let threat = ThreatModel::linf(0.1);
    let plain = values(bim(threat, 5).run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    for sampling in [
        Sampling::Neighbourhood { samples: 1, range: 0.0 },
        Sampling::VarianceTuning { samples: 1, range: 0.0 },
        Sampling::Spectrum { samples: 1, rho: 0.0, sigma: 0.0 },
    ] {
        let estimator = GradientEstimator::default().with_sampling(sampling);
        let sampled =
            values(bim(threat, 5).with_gradient(estimator).run(&ensemble, x.clone(), &objective).unwrap().adversarial);
        assert_eq!(sampled, plain, "{sampling:?}");
    }
}

#[test]
fn vmi_cwa_with_zero_range_is_mi_cwa_and_ssa_cwa_with_identity_spectrum_is_mi_cwa_or_mi_cse() {
    let ensemble = mlp_ensemble(3, 12, 4);
    let x = images(5, [3, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![3, 1, 2]);
    let run = |attack: &dyn Attack| values(attack.run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    let zero_range = |sampling: Sampling| match sampling {
        Sampling::Neighbourhood { samples, .. } => Sampling::Neighbourhood { samples, range: 0.0 },
        Sampling::VarianceTuning { samples, .. } => Sampling::VarianceTuning { samples, range: 0.0 },
        other => other,
    };
    let identity = |sampling: Sampling| match sampling {
        Sampling::Spectrum { samples, .. } => Sampling::Spectrum { samples, rho: 0.0, sigma: 0.0 },
        other => other,
    };
    for config in [CwaConfig::paper(0.1), CwaConfig::reference(0.1)] {
        let mut vmi = Cwa::vmi_cwa(config.clone());
        vmi.settings.model_gradient.sampling = vmi.settings.model_gradient.sampling.map(zero_range);
        assert_eq!(run(&vmi), run(&Cwa::mi_cwa(config.clone())), "{:?}", config.flavor);

        let mut ssa_cwa = Cwa::ssa_cwa(config.clone());
        ssa_cwa.settings.model_gradient.sampling = ssa_cwa.settings.model_gradient.sampling.map(identity);
        let expected = match config.flavor {
            Flavor::Paper => Cwa::mi_cwa(config.clone()),
            // The authors' SSA-CWA is CSE (no reverse step) with MI-CWA's inner step of 250.
            Flavor::Reference => Cwa::mi_cse(config.clone()).with_inner(Momentum::cwa_inner(250.0, 1.0)),
        };
        assert_eq!(run(&ssa_cwa), run(&expected), "{:?}", config.flavor);
    }
}

#[test]
fn stochastic_estimators_are_seeded() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(6, [2, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]);
    let estimators = [
        GradientEstimator::default().with_diversity(InputDiversity::Translate { padding: 1 }),
        GradientEstimator::default().with_sampling(Sampling::Neighbourhood { samples: 3, range: 1.5 }),
        GradientEstimator::default().with_sampling(Sampling::VarianceTuning { samples: 3, range: 1.5 }),
        GradientEstimator::default().with_sampling(Sampling::Spectrum { samples: 3, rho: 0.5, sigma: 0.06 }),
    ];
    for estimator in estimators {
        let run = |seed: u64| {
            let attack = Cwa::mi_cwa(CwaConfig::paper(0.1).with_seed(seed)).with_gradient(estimator);
            values(attack.run(&ensemble, x.clone(), &objective).unwrap().adversarial)
        };
        assert_eq!(run(1), run(1), "{estimator:?}");
        assert_ne!(run(1), run(2), "{estimator:?}");
    }
}

#[test]
fn estimator_parameters_are_validated() {
    let ensemble = mlp_ensemble(1, 12, 4);
    let x = images(7, [1, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0]);
    let bad = [
        GradientEstimator::default().with_sampling(Sampling::Neighbourhood { samples: 0, range: 1.0 }),
        GradientEstimator::default().with_sampling(Sampling::VarianceTuning { samples: 4, range: -1.0 }),
        GradientEstimator::default().with_sampling(Sampling::Spectrum { samples: 4, rho: 1.5, sigma: 0.1 }),
        GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 0.0 }),
    ];
    for estimator in bad {
        let attack = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_model_gradient(estimator);
        assert!(
            matches!(attack.run(&ensemble, x.clone(), &objective), Err(Error::InvalidParameter { .. })),
            "{estimator:?}"
        );
    }
}

/// Every estimator-based attack raises the true label's loss of every surrogate (the
/// objective falls).
#[test]
fn every_estimator_attack_raises_the_loss() {
    let ensemble = mlp_ensemble(3, 48, 4);
    let x = images(8, [4, 3, 4, 4], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1, 2, 3]);
    let threat = ThreatModel::linf(0.1);
    let config = CwaConfig::paper(0.1);
    let di_ti = GradientEstimator::default()
        .with_diversity(InputDiversity::Translate { padding: 1 })
        .with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 0.8 });
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(di_mi_fgsm(threat, 10, 1.0).with_ensemble_gradient(
            GradientEstimator::default().with_diversity(InputDiversity::Translate { padding: 1 }),
        )),
        Box::new(ti_mi_fgsm(threat, 10, 1.0).with_ensemble_gradient(
            GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 0.8 }),
        )),
        Box::new(vmi_fgsm(threat, 10, 1.0)),
        Box::new(ssa(threat, 10, 1.0)),
        Box::new(Cwa::vmi_cwa(config.clone())),
        Box::new(Cwa::ssa_cwa(config.clone())),
        Box::new(Cwa::ssa_cwa(CwaConfig::reference(0.1))),
        Box::new(Cwa::mi_cwa(config).with_gradient(di_ti).named("DI-TI-MI-CWA")),
    ];
    for attack in attacks {
        let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
        for (before, after) in outcome.initial_loss.iter().zip(&outcome.final_loss) {
            assert!(after < before, "{}: objective {before} -> {after}", attack.name());
        }
    }
}

/// The matrix-product resize equals Burn's bilinear interpolation with half-pixel centres
/// (forward passes, which every backend supports).
#[test]
fn matrix_resize_matches_bilinear_interpolation() {
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    use common_weakness::planar::resize_bilinear;
    let x = images(10, [2, 3, 7, 9], 0.0, 1.0);
    for size in [[14, 18], [5, 4], [7, 9], [11, 3]] {
        let options = InterpolateOptions {
            mode: InterpolateMode::Bilinear,
            align_corners: false,
            output_size: Some(size),
            scale_factor: None,
        };
        let expected = values(interpolate(x.clone(), options));
        let actual = values(resize_bilinear(x.clone(), size));
        assert!(max_difference(&actual, &expected) < 1e-5, "{size:?}");
    }
}

/// Regression: burn-ndarray 0.21 has no backward pass for bilinear `interpolate`, so DI's
/// resize-and-pad and `Normalized::with_resize` must not use it.
#[test]
fn attacks_differentiate_through_resizing_on_ndarray() {
    use common_weakness::surrogate::{from_fn, Normalized};
    let ensemble = mlp_ensemble(2, 3 * 20 * 20, 4);
    let x = images(11, [2, 3, 20, 20], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]);
    let always =
        GradientEstimator::default().with_diversity(InputDiversity::ResizePad { probability: 1.0, resize_rate: 1.3 });
    let outcome = di_mi_fgsm(ThreatModel::linf(0.1), 3, 1.0)
        .with_ensemble_gradient(always)
        .run(&ensemble, x.clone(), &objective)
        .unwrap();
    assert!(outcome.final_loss.iter().zip(&outcome.initial_loss).all(|(a, b)| a < b));

    let inner = super::common::mlp("resized", 3, 3 * 8 * 8, 8, 4);
    let resized = Normalized::imagenet(inner).with_resize(8, 8).unwrap();
    let pixels = from_fn("pixels-mean", |x: Tensor<4>| x.mean_dims(&[2, 3]).flatten::<2>(1, 3).narrow(1, 0, 2));
    let ensemble = Ensemble::new(vec![Box::new(resized), Box::new(pixels)]).unwrap();
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1)).with_combination(Combination::LossMean);
    let outcome = attack.run(&ensemble, x, &objective).unwrap();
    assert!(outcome.final_loss[0] < outcome.initial_loss[0]);
}

/// Every estimator (DI, TI, VMI, SSA) in every attack loop (the CWA engine, SVRE, RAP): it
/// runs, it is used (the images differ from the plain attack's), and it is seeded.
#[test]
fn every_gradient_estimator_composes_with_every_attack() {
    use common_weakness::attack::{AttackConfig, Rap, RapConfig, Svre, SvreConfig};
    // 16 × 16: DI's resize (× 1.1, rounded down) is the identity below 10 pixels.
    let ensemble = mlp_ensemble(2, 3 * 16 * 16, 4);
    let x = images(21, [2, 3, 16, 16], 0.1, 0.9);
    let pool = images(22, [3, 3, 16, 16], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]).with_mixing_pool(pool, vec![0, 1, 2]);
    let threat = ThreatModel::linf(0.1);
    let estimators = [
        ("DI", GradientEstimator::default().with_diversity(InputDiversity::resize_pad())),
        ("TI", GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 })),
        ("VMI", GradientEstimator::default().with_sampling(Sampling::VarianceTuning { samples: 2, range: 1.5 })),
        ("SSA", GradientEstimator::default().with_sampling(Sampling::Spectrum { samples: 2, rho: 0.5, sigma: 0.1 })),
        ("SIM", GradientEstimator::default().with_copies(Copies::Scale { scales: 3 })),
        ("MaskBlock", GradientEstimator::default().with_copies(Copies::MaskBlock { grid: 2 })),
        ("BSR", GradientEstimator::default().with_copies(Copies::BlockShuffle { copies: 2, grid: 2, max_angle: 24.0 })),
        ("SIA", GradientEstimator::default().with_copies(Copies::BlockTransform { copies: 2, grid: 3 })),
        (
            "DeCoWA",
            GradientEstimator::default().with_copies(Copies::Warp { copies: 2, mesh: 3, noise_scale: 2.0, step: 0.01 }),
        ),
        ("Admix", GradientEstimator::default().with_copies(Copies::Admix { scales: 2, mixes: 2, strength: 0.2 })),
        ("EMI", GradientEstimator::default().with_sampling(Sampling::LinearLookAround { samples: 3, range: 0.7 })),
        ("GRA", GradientEstimator::default().with_sampling(Sampling::Relevance { samples: 2, range: 3.5 })),
        (
            "PGN",
            GradientEstimator::default().with_sampling(Sampling::GradientNormPenalty {
                samples: 2,
                range: 3.0,
                step: 0.1,
                balance: 0.5,
            }),
        ),
    ];
    let rap = RapConfig { iterations: 3, reverse_steps: 2, ..RapConfig::paper(threat) };
    let svre = SvreConfig { iterations: 3, ..SvreConfig::paper(threat) };
    let attacks = |estimator: GradientEstimator| -> Vec<AttackConfig> {
        vec![
            Cwa::mi_cwa(CwaConfig::paper(0.1).with_iterations(3)).with_gradient(estimator).into(),
            Svre::new(svre.clone()).with_gradient(estimator).into(),
            Rap::new(rap.clone()).with_gradient(estimator).into(),
        ]
    };
    let run = |config: &AttackConfig| values(config.build().run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    let plain: Vec<Vec<f32>> = attacks(GradientEstimator::default()).iter().map(run).collect();
    for (name, estimator) in estimators {
        for (attack, plain) in attacks(estimator).iter().zip(&plain) {
            let first = run(attack);
            let kind = serde_json::to_value(attack).unwrap().as_object().unwrap().keys().next().unwrap().clone();
            let clean = values(x.clone());
            let within = first.iter().zip(&clean).all(|(a, c)| (a - c).abs() <= 0.1 + 1e-6 && (0.0..=1.0).contains(a));
            assert!(within, "{name} in {kind} left the budget or [0, 1]");
            assert_ne!(&first, plain, "{name} changed nothing in {kind}");
            assert_eq!(first, run(attack), "{name} in {kind} is not seeded");
        }
    }
}

/// The estimated gradient of the objective at `x`, read back from one raw descent step of
/// size 1e-4 (budget 1 and pixels inside (0, 1): no projection binds).
fn estimated_gradient(estimator: GradientEstimator, ensemble: &Ensemble, x: &Tensor<4>, labels: &[usize]) -> Vec<f32> {
    estimated_gradient_of(estimator, ensemble, x, &Objective::untargeted(labels.to_vec()))
}

/// [`estimated_gradient`] of any objective.
fn estimated_gradient_of(
    estimator: GradientEstimator,
    ensemble: &Ensemble,
    x: &Tensor<4>,
    objective: &Objective,
) -> Vec<f32> {
    let step = 1e-4;
    let moved = probe(estimator, 1, step).run(ensemble, x.clone(), objective).unwrap().adversarial;
    values(moved).iter().zip(values(x.clone())).map(|(after, before)| (before - after) / step as f32).collect()
}

/// An attack that moves by `step` times each estimated gradient, `iterations` times, under a
/// budget (1) that never binds for pixels inside (0, 1) and small steps.
fn probe(estimator: GradientEstimator, iterations: usize, step: f64) -> Cwa<Sgd, Sgd, Sgd> {
    Cwa {
        name: "probe".to_string(),
        settings: LoopSettings {
            iterations,
            ensemble_gradient: estimator,
            ..LoopSettings::new(ThreatModel::linf(1.0))
        },
        reverse: None::<Sgd>,
        inner: None::<Sgd>,
        outer: Sgd::plain(step),
    }
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = max_difference(actual, expected);
    assert!(worst <= 2e-3 * scale.max(1e-3), "{what}: off by {worst} (largest entry {scale})");
}

#[test]
fn sim_averages_the_gradients_through_the_scaled_copies() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(30, [2, 3, 2, 2], 0.3, 0.7);
    let labels = [1, 3];
    // By hand: the gradient of L(x/2^i) with respect to x is 2^{-i}·∇L(x/2^i).
    let mut expected = vec![0.0f32; 24];
    for i in 0..3 {
        let scale = 0.5f32.powi(i);
        let at_copy =
            estimated_gradient(GradientEstimator::default(), &ensemble, &x.clone().mul_scalar(scale), &labels);
        for (sum, g) in expected.iter_mut().zip(at_copy) {
            *sum += scale * g / 3.0;
        }
    }
    let sim = estimated_gradient(
        GradientEstimator::default().with_copies(Copies::Scale { scales: 3 }),
        &ensemble,
        &x,
        &labels,
    );
    assert_close(&sim, &expected, "SIM with 3 scales");
    // One scale is the plain gradient, bit for bit.
    let one = GradientEstimator::default().with_copies(Copies::Scale { scales: 1 });
    assert_eq!(
        estimated_gradient(one, &ensemble, &x, &labels),
        estimated_gradient(GradientEstimator::default(), &ensemble, &x, &labels)
    );
}

#[test]
fn mask_block_averages_the_gradients_with_each_block_masked() {
    let ensemble = mlp_ensemble(2, 16, 4);
    let x = images(31, [1, 1, 4, 4], 0.3, 0.7);
    let labels = [2];
    // A 2 × 2 grid on 4 × 4 pixels: block k covers rows 2·(k / 2).., columns 2·(k % 2)..
    let mut expected = vec![0.0f32; 16];
    for block in 0..4 {
        let mask: Vec<f32> =
            (0..16).map(|p| if (p / 4) / 2 == block / 2 && (p % 4) / 2 == block % 2 { 0.0 } else { 1.0 }).collect();
        let masked = x.clone() * super::common::tensor4(mask.clone(), [1, 1, 4, 4]);
        let at_copy = estimated_gradient(GradientEstimator::default(), &ensemble, &masked, &labels);
        for ((sum, g), m) in expected.iter_mut().zip(at_copy).zip(&mask) {
            *sum += m * g / 4.0;
        }
    }
    let mask_block = GradientEstimator::default().with_copies(Copies::MaskBlock { grid: 2 });
    assert_close(&estimated_gradient(mask_block, &ensemble, &x, &labels), &expected, "MaskBlock, 2 × 2 grid");
    // A 1 × 1 grid masks the whole image: the gradient is exactly zero.
    let everything = GradientEstimator::default().with_copies(Copies::MaskBlock { grid: 1 });
    assert!(estimated_gradient(everything, &ensemble, &x, &labels).iter().all(|&g| g == 0.0));
}

#[test]
fn block_copies_send_the_gradient_back_to_the_pixels_each_copy_read() {
    use super::common::{linear, minimise_output};
    // A linear model x·w: the gradient of w·T(x) is Tᵀw.
    let weights: Vec<f32> = (0..16).map(|k| k as f32).collect();
    let ensemble = Ensemble::new(vec![linear("linear", weights.clone())]).unwrap();
    let x = images(33, [1, 1, 4, 4], 0.3, 0.7);
    let gradient = |copies| {
        estimated_gradient_of(GradientEstimator::default().with_copies(copies), &ensemble, &x, &minimise_output())
    };
    // One shuffled copy without rotation: Tᵀw is w with its 2 × 2 blocks moved.
    let shuffled = gradient(Copies::BlockShuffle { copies: 1, grid: 2, max_angle: 0.0 });
    let block = |g: &[f32], k: usize| -> Vec<f32> {
        (0..4).map(|p| g[(2 * (k / 2) + p / 2) * 4 + 2 * (k % 2) + p % 2].round()).collect()
    };
    let mut moved: Vec<Vec<f32>> = (0..4).map(|k| block(&shuffled, k)).collect();
    let mut original: Vec<Vec<f32>> = (0..4).map(|k| block(&weights, k)).collect();
    moved.sort_by(|a, b| a.partial_cmp(b).unwrap());
    original.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(moved, original);
    // One block, no rotation: the plain gradient.
    assert_close(&gradient(Copies::BlockShuffle { copies: 3, grid: 1, max_angle: 0.0 }), &weights, "BSR, one block");
    // Turned copies spread each weight over at most the block's pixels: the total is at most
    // Σw, and bilinear weights never make a pixel's share negative.
    let turned = gradient(Copies::BlockShuffle { copies: 4, grid: 1, max_angle: 24.0 });
    assert!(turned.iter().all(|&g| g >= -1e-4) && turned.iter().sum::<f32>() <= weights.iter().sum::<f32>() + 1e-2);
}

#[test]
fn copies_compose_with_diversity_and_sampling_and_are_refused_out_of_range() {
    let ensemble = mlp_ensemble(1, 3 * 16 * 16, 4);
    let x = images(32, [2, 3, 16, 16], 0.1, 0.9);
    let objective = Objective::untargeted(vec![0, 1]);
    let run = |estimator: GradientEstimator| {
        values(
            bim(ThreatModel::linf(0.1), 3)
                .with_gradient(estimator)
                .run(&ensemble, x.clone(), &objective)
                .unwrap()
                .adversarial,
        )
    };
    let sim = GradientEstimator::default().with_copies(Copies::sim());
    let di_sim = sim.with_diversity(InputDiversity::resize_pad());
    let vmi_sim = sim.with_sampling(Sampling::Neighbourhood { samples: 2, range: 1.5 });
    assert_ne!(run(di_sim), run(sim));
    assert_ne!(run(vmi_sim), run(sim));
    assert_eq!(run(di_sim), run(di_sim), "DI on copies is seeded");
    for (copies, name) in [
        (Copies::Scale { scales: 0 }, "scales"),
        (Copies::Scale { scales: 129 }, "scales"),
        (Copies::MaskBlock { grid: 0 }, "grid"),
        (Copies::MaskBlock { grid: 17 }, "grid"),
    ] {
        let attack = bim(ThreatModel::linf(0.1), 3).with_gradient(GradientEstimator::default().with_copies(copies));
        match attack.run(&ensemble, x.clone(), &objective) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name, "{copies:?}"),
            other => panic!("{copies:?}: {:?}", other.map(|o| o.records.len())),
        }
    }
}

#[test]
fn admix_mixes_in_a_pool_image_of_another_class_at_every_scale() {
    use common_weakness::surrogate::from_fn;
    // ½‖x‖² through the identity: the gradient of ½‖s·(x + η·p)‖² is s²·(x + η·p).
    let identity = from_fn("identity", |x: Tensor<4>| x.flatten(1, 3));
    let ensemble = Ensemble::new(vec![Box::new(identity)]).unwrap();
    let x = images(38, [2, 1, 2, 2], 0.3, 0.7);
    let pool = Tensor::cat(
        vec![Tensor::<4>::full([1, 1, 2, 2], 0.2, &device()), Tensor::<4>::full([1, 1, 2, 2], 0.8, &device())],
        0,
    );
    // Image 0 is of class 0, image 1 of class 1: each can only be mixed with the other class.
    let base =
        Objective::custom(Some(vec![0, 1]), |input| input.outputs.square().sum_dim(1).squeeze_dim(1).mul_scalar(0.5));
    let objective = base.with_mixing_pool(pool.clone(), vec![0, 1]);
    let (strength, scales) = (0.5f32, [1.0f32, 0.5]);
    let admix = Copies::Admix { scales: 2, mixes: 2, strength: strength as f64 };
    let estimate = estimated_gradient_of(GradientEstimator::default().with_copies(admix), &ensemble, &x, &objective);
    let mean_square = scales.iter().map(|s| s * s).sum::<f32>() / 2.0;
    let expected: Vec<f32> = values(x.clone())
        .iter()
        .enumerate()
        .map(|(p, v)| {
            let partner = if p < 4 { 0.8 } else { 0.2 };
            mean_square * (v + strength * partner)
        })
        .collect();
    assert_close(&estimate, &expected, "Admix on ½‖x‖²");
    // No pool, a pool of other images' shape, or none of another class: refused.
    let run = |objective: &Objective| {
        bim(ThreatModel::linf(0.1), 1).with_gradient(GradientEstimator::default().with_copies(Copies::admix())).run(
            &ensemble,
            x.clone(),
            objective,
        )
    };
    let plain = Objective::untargeted(vec![0, 1]);
    assert!(matches!(run(&plain), Err(Error::InvalidObjective(m)) if m.contains("with_mixing_pool")));
    let wrong_shape = plain.clone().with_mixing_pool(images(39, [2, 3, 2, 2], 0.0, 1.0), vec![0, 1]);
    assert!(matches!(run(&wrong_shape), Err(Error::Shape { what: "mixing pool", .. })));
    let same_class = plain.clone().with_mixing_pool(pool.clone().narrow(0, 0, 1), vec![0]);
    assert!(matches!(run(&same_class), Err(Error::InvalidObjective(_))));
    let unlabelled_pool = plain.with_mixing_pool(pool, vec![0]);
    assert!(matches!(run(&unlabelled_pool), Err(Error::BatchMismatch { images: 2, labels: 1 })));
}

#[test]
fn emi_samples_along_the_previous_estimate_as_its_closed_form_says() {
    use common_weakness::surrogate::from_fn;
    // Σ x³/3 per image: ∇ = x², so the mean over the points x + c·d is x² + mean(c²)·d².
    let cube = from_fn("cube", |x: Tensor<4>| x.powi_scalar(3).flatten(1, 3).div_scalar(3.0));
    let ensemble = Ensemble::new(vec![Box::new(cube)]).unwrap();
    let sum = Objective::custom(None, |input| input.outputs.sum_dim(1).squeeze_dim(1));
    let x0 = images(35, [2, 1, 2, 2], 0.3, 0.7);
    let (samples, range, step) = (3, 0.2, 1e-3);
    let emi = GradientEstimator::default().with_sampling(Sampling::LinearLookAround { samples, range });
    let after = |iterations| values(probe(emi, iterations, step).run(&ensemble, x0.clone(), &sum).unwrap().adversarial);
    let (x0, x1, x2) = (values(x0.clone()), after(1), after(2));
    let moved =
        |from: &[f32], to: &[f32]| -> Vec<f32> { from.iter().zip(to).map(|(a, b)| (a - b) / step as f32).collect() };
    // The first iteration has no previous estimate: every point is x₀.
    let first = moved(&x0, &x1);
    assert_close(&first, &x0.iter().map(|v| v * v).collect::<Vec<_>>(), "EMI, first iteration");
    // The second looks along d = ĝ₀/mean|ĝ₀| (ε = 1): c ∈ {−0.2, 0, 0.2}, mean(c²) = 0.04·2/3.
    let mean_square = (range * range) as f32 * 2.0 / 3.0;
    let mut expected = Vec::new();
    for (previous, x) in first.chunks(4).zip(x1.chunks(4)) {
        let mean_abs = previous.iter().map(|g| g.abs()).sum::<f32>() / 4.0;
        expected.extend(previous.iter().zip(x).map(|(g, x)| x * x + mean_square * (g / mean_abs).powi(2)));
    }
    let second = moved(&x1, &x2);
    assert_close(&second, &expected, "EMI, second iteration");
    let plain: Vec<f32> = x1.iter().map(|x| x * x).collect();
    assert!(max_difference(&second, &plain) > 0.01, "the look-around changed nothing");
}

#[test]
fn gra_weighs_the_gradient_and_the_neighbourhood_mean_by_their_cosine() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(36, [2, 3, 2, 2], 0.2, 0.8);
    let labels = [1, 2];
    let estimate = |sampling: Option<Sampling>| {
        let estimator = GradientEstimator { sampling, ..GradientEstimator::default() };
        estimated_gradient(estimator, &ensemble, &x, &labels)
    };
    // The neighbourhood mean with the same draws (the gradient at x draws nothing).
    let (g, around) = (estimate(None), estimate(Some(Sampling::Neighbourhood { samples: 4, range: 3.5 })));
    let mut expected = Vec::new();
    for (g, around) in g.chunks(12).zip(around.chunks(12)) {
        let dot: f32 = g.iter().zip(around).map(|(a, b)| a * b).sum();
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
        let s = dot / (norm(g) * norm(around));
        expected.extend(g.iter().zip(around).map(|(a, b)| s * a + (1.0 - s) * b));
    }
    let gra = estimate(Some(Sampling::Relevance { samples: 4, range: 3.5 }));
    assert_close(&gra, &expected, "GRA's relevance-weighted gradient");
    assert!(max_difference(&gra, &g) > 1e-3 && max_difference(&gra, &around) > 1e-3);
    // With no neighbourhood, the mean is the gradient itself: s = 1.
    assert_close(&estimate(Some(Sampling::Relevance { samples: 2, range: 0.0 })), &g, "GRA, zero range");
}

#[test]
fn the_decay_indicator_with_no_decay_is_mi_fgsm_and_with_decay_takes_shorter_steps() {
    use common_weakness::attack::{gra, mi_fgsm};
    let ensemble = mlp_ensemble(2, 48, 4);
    let x = images(37, [2, 3, 4, 4], 0.1, 0.9);
    let objective = Objective::untargeted(vec![0, 3]);
    let threat = ThreatModel::linf(0.1);
    let run = |attack: &dyn Attack| values(attack.run(&ensemble, x.clone(), &objective).unwrap().adversarial);
    let mut no_decay = gra(threat, 6, 1.0);
    no_decay.outer.decay = 1.0;
    let mi = mi_fgsm(threat, 6, 1.0).with_ensemble_gradient(no_decay.settings.ensemble_gradient);
    assert_eq!(run(&no_decay), run(&mi));
    // With η < 1 a pixel whose momentum flips moves less: the total movement shrinks.
    let distance =
        |adversarial: Vec<f32>| -> f32 { adversarial.iter().zip(values(x.clone())).map(|(a, b)| (a - b).abs()).sum() };
    assert!(distance(run(&gra(threat, 6, 1.0))) <= distance(run(&mi)) + 1e-4);
    let mut wrong = gra(threat, 6, 1.0);
    wrong.outer.decay = 1.5;
    match wrong.run(&ensemble, x.clone(), &objective) {
        Err(Error::Optimizer { role: "outer", source }) => {
            assert!(matches!(*source, Error::InvalidParameter { name: "decay", .. }), "{source}")
        }
        other => panic!("η = 1.5: {:?}", other.map(|o| o.records.len())),
    }
}

#[test]
fn pgn_matches_its_closed_form_on_a_quadratic_and_reduces_to_the_neighbourhood_mean() {
    use common_weakness::surrogate::from_fn;
    // The objective ½‖x‖² per image, through a model that passes the pixels on: ∇ = x.
    let identity = from_fn("identity", |x: Tensor<4>| x.flatten(1, 3));
    let ensemble = Ensemble::new(vec![Box::new(identity)]).unwrap();
    let quadratic = Objective::custom(None, |input| input.outputs.square().sum_dim(1).squeeze_dim(1).mul_scalar(0.5));
    let x = images(33, [2, 1, 2, 2], 0.3, 0.7);
    // Without noise: g₁ = x, x'' = x + s·ε·x/mean|x| (ε = 1 in the probe), g₂ = x'', and
    // ĝ = (1 − δ)·g₁ + δ·g₂ = x + δ·s·x/mean|x|.
    let (step, balance) = (0.2, 0.25);
    let pgn = Sampling::GradientNormPenalty { samples: 1, range: 0.0, step, balance };
    let estimate = estimated_gradient_of(GradientEstimator::default().with_sampling(pgn), &ensemble, &x, &quadratic);
    let pixels = values(x.clone());
    let mut expected = Vec::new();
    for image in pixels.chunks(4) {
        let mean_abs = image.iter().map(|v| v.abs()).sum::<f32>() / 4.0;
        expected.extend(image.iter().map(|v| v + (balance * step) as f32 * v / mean_abs));
    }
    assert_close(&estimate, &expected, "PGN on ½‖x‖²");
    // δ = 0 keeps only g₁: the neighbourhood mean, bit for bit (same draws).
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(34, [3, 3, 2, 2], 0.1, 0.9);
    let objective = Objective::untargeted(vec![0, 1, 2]);
    let run = |sampling| {
        let attack = bim(ThreatModel::linf(0.1), 3).with_gradient(GradientEstimator::default().with_sampling(sampling));
        values(attack.run(&ensemble, x.clone(), &objective).unwrap().adversarial)
    };
    assert_eq!(
        run(Sampling::GradientNormPenalty { samples: 3, range: 1.5, step: 0.1, balance: 0.0 }),
        run(Sampling::Neighbourhood { samples: 3, range: 1.5 })
    );
    // Out-of-range settings are refused by name.
    for (sampling, name) in [
        (Sampling::GradientNormPenalty { samples: 0, range: 3.0, step: 0.1, balance: 0.5 }, "samples"),
        (Sampling::GradientNormPenalty { samples: 2, range: 3.0, step: -0.1, balance: 0.5 }, "step"),
        (Sampling::GradientNormPenalty { samples: 2, range: 3.0, step: 0.1, balance: 1.5 }, "balance"),
    ] {
        let attack = bim(ThreatModel::linf(0.1), 3).with_gradient(GradientEstimator::default().with_sampling(sampling));
        match attack.run(&ensemble, x.clone(), &objective) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{sampling:?}: {:?}", other.map(|o| o.records.len())),
        }
    }
}
