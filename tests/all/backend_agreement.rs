//! Backend agreement: the same seeded attacks on every backend of this build (flex and
//! ndarray by default; tch, wgpu with their features) give the same adversarial images as on
//! ndarray within 1e-4, and the surrogates are batch-independent on each.
//!
//! The surrogates exercise every kind of kernel the crate uses: matrix products, convolutions
//! (strided, depthwise and 1×1, behind an uneven padding as EfficientNet-Lite has) and clamps,
//! SSA's DCT and host noise, TI's depthwise smoothing (the zoo's convolutions and the models
//! crate's backend extension, `kernels`, are checked in `crates/models`).
//! GPU kinds (`tch-cuda`, `cuda`) join when
//! `COMMON_WEAKNESS_GPU=1`.

use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::attack::{mi_fgsm, CwaConfig};
use common_weakness::backend::BackendKind;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{check_batch_independence, from_fn, Surrogate};

fn seeded<const D: usize>(seed: u64, shape: [usize; D], device: &Device) -> Tensor<D> {
    let mut rng = AttackRng::new(seed);
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| (rng.unit() - 0.5) * 2.0).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A tiny MBConv-like CNN: uneven padding, stride-2 stem, depthwise 3×3, 1×1, ReLU6.
fn tiny_cnn(seed: u64, device: &Device) -> Box<dyn Surrogate> {
    let stem = seeded::<4>(seed, [6, 3, 3, 3], device).mul_scalar(0.5);
    let depthwise = seeded::<4>(seed + 1, [6, 1, 3, 3], device);
    let bias = seeded::<1>(seed + 2, [6], device);
    let project = seeded::<4>(seed + 3, [4, 6, 1, 1], device);
    Box::new(from_fn(format!("cnn{seed}"), move |x: Tensor<4>| {
        let x = x.pad([(0, 1), (0, 1)], PadMode::Constant(0.0));
        let x = conv2d(x, stem.clone(), None, ConvOptions::new([2, 2], [0, 0], [1, 1], 1));
        let x = x.clamp(0.0, 6.0);
        let x = conv2d(x, depthwise.clone(), Some(bias.clone()), ConvOptions::new([1, 1], [1, 1], [1, 1], 6));
        let x = x.clamp(0.0, 6.0);
        let x = conv2d(x, project.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        x.mean_dims(&[2, 3]).flatten(1, 3).mul_scalar(4.0)
    }))
}

fn mlp(seed: u64, device: &Device) -> Box<dyn Surrogate> {
    let w1 = seeded::<2>(seed, [3 * 8 * 8, 6], device).mul_scalar(0.3);
    let w2 = seeded::<2>(seed + 1, [6, 4], device);
    Box::new(from_fn(format!("mlp{seed}"), move |x: Tensor<4>| {
        x.flatten::<2>(1, 3).matmul(w1.clone()).tanh().matmul(w2.clone()).mul_scalar(3.0)
    }))
}

/// Adversarial pixels and final losses of three attacks, and the batch-independence gaps.
fn agreement(device: Device) -> (Vec<f32>, Vec<f64>, Vec<f32>) {
    let members = || vec![tiny_cnn(10, &device), tiny_cnn(20, &device), mlp(30, &device)];
    let images = {
        let mut rng = AttackRng::new(5);
        let pixels: Vec<f32> = (0..2 * 3 * 8 * 8).map(|_| rng.unit()).collect();
        Tensor::<4>::from_data(TensorData::new(pixels, [2, 3, 8, 8]), &device)
    };
    let gaps = members()
        .iter()
        .map(|m| check_batch_independence(m.as_ref(), images.clone(), 1e-4).unwrap().max_difference)
        .collect();
    let ensemble = Ensemble::new(members()).unwrap();
    let objective = Objective::untargeted(vec![0, 3]);
    // L2 steps (no sign) so that rounding differences between backends stay small.
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3).with_seed(11);
    let estimator = GradientEstimator::default()
        .with_sampling(Sampling::Spectrum { samples: 2, rho: 0.5, sigma: 0.05 })
        .with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 });
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(Cwa::mi_cwa(config.clone()).with_model_gradient(estimator)),
        Box::new(Cwa::mi_cwa(config)),
        Box::new(mi_fgsm(ThreatModel::l2(0.5), 3, 1.0)),
    ];
    let (mut pixels, mut losses) = (Vec::new(), Vec::new());
    for attack in attacks {
        let outcome = attack.run(&ensemble, images.clone(), &objective).unwrap();
        pixels.extend(outcome.adversarial.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        losses.extend(outcome.final_loss);
    }
    (pixels, losses, gaps)
}

#[test]
fn every_backend_agrees_with_ndarray() {
    let gpu = std::env::var_os("COMMON_WEAKNESS_GPU").is_some();
    let (reference, reference_losses, _) = agreement(BackendKind::Ndarray.device().unwrap());
    for kind in BackendKind::enabled_kinds() {
        if kind == BackendKind::Ndarray || (matches!(kind, BackendKind::TchCuda | BackendKind::Cuda) && !gpu) {
            continue;
        }
        let (pixels, losses, gaps) = agreement(kind.device().unwrap());
        let worst = reference.iter().zip(&pixels).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "ndarray and {kind} differ by {worst}");
        for (a, b) in reference_losses.iter().zip(&losses) {
            assert!((a - b).abs() < 1e-3 * (1.0 + a.abs()), "{kind}: losses {a} vs {b}");
        }
        assert!(gaps.iter().all(|&g| g <= 1e-4), "{kind}: batch-dependent surrogates, gaps {gaps:?}");
    }
}

#[test]
fn ndarray_surrogates_are_batch_independent() {
    let (_, _, gaps) = agreement(BackendKind::Ndarray.device().unwrap());
    assert!(gaps.iter().all(|&g| g <= 1e-4), "gaps {gaps:?}");
}

/// Adversarial pixels of MI-CWA under the logit mean (one joint backward pass, then model by
/// model) and the loss mean, with model `i` on `devices[i]` and the images on `home`.
fn split_over_devices(home: &Device, devices: [Device; 3]) -> Vec<f32> {
    let ensemble = |mode: GradientMode| {
        let members = vec![tiny_cnn(10, &devices[0]), tiny_cnn(20, &devices[1]), mlp(30, &devices[2])];
        Ensemble::new(members).unwrap().with_devices(devices.to_vec()).unwrap().with_gradient_mode(mode)
    };
    let images = seeded::<4>(5, [2, 3, 8, 8], home).mul_scalar(0.5).add_scalar(0.5);
    let objective = Objective::untargeted(vec![0, 3]);
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3).with_seed(11);
    let mut pixels = Vec::new();
    for (mode, combination) in [
        (GradientMode::Joint, Combination::LogitMean),
        (GradientMode::PerModel, Combination::LogitMean),
        (GradientMode::Auto, Combination::LossMean),
    ] {
        let attack = Cwa::mi_cwa(config.clone()).with_combination(combination);
        let outcome = attack.run(&ensemble(mode), images.clone(), &objective).unwrap();
        assert_eq!(outcome.adversarial.device(), *home, "the adversarial images stay on the images' device");
        pixels.extend(outcome.adversarial.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
    }
    pixels
}

/// On one device the placement is a no-op. (Burn 0.21 cannot move a tensor between two wgpu
/// devices: burn-cubecl's `to_device` takes cubecl's server-to-server path, which wgpu does
/// not implement, so the split itself is tested on the remote backend, in the bench crate.)
#[test]
fn an_ensemble_placed_on_its_own_device_is_unchanged() {
    let cpu = BackendKind::Ndarray.device().unwrap();
    let placed = split_over_devices(&cpu, [cpu.clone(), cpu.clone(), cpu.clone()]);
    let objective = Objective::untargeted(vec![0, 3]);
    let members = vec![tiny_cnn(10, &cpu), tiny_cnn(20, &cpu), mlp(30, &cpu)];
    let plain = Ensemble::new(members).unwrap().with_gradient_mode(GradientMode::Joint);
    let images = seeded::<4>(5, [2, 3, 8, 8], &cpu).mul_scalar(0.5).add_scalar(0.5);
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3).with_seed(11);
    let adversarial = Cwa::mi_cwa(config).run(&plain, images, &objective).unwrap().adversarial;
    assert_eq!(placed[..2 * 3 * 8 * 8], adversarial.into_data().try_to_vec::<f32>().unwrap()[..]);
}
