//! Backend agreement: the same attack on ndarray and on wgpu (lavapipe on CI) gives the same
//! images within tolerance.

use burn::backend::{Autodiff, Wgpu};
use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::CwaConfig;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::from_fn;

type W = Autodiff<Wgpu>;

fn mlp_weights(seed: u64, rows: usize, cols: usize) -> Vec<f32> {
    let mut rng = AttackRng::new(seed);
    (0..rows * cols).map(|_| (rng.unit() - 0.5) * 2.0).collect()
}

/// A 3-iteration MI-CWA whose inner gradients go through SSA (DCT matrix products, noise
/// drawn on the host from the seed) and TI (a depthwise convolution), so that every kind of
/// kernel the crate uses runs on both backends.
fn run_on<Bk: burn::tensor::backend::AutodiffBackend>(device: Bk::Device) -> (Vec<f32>, Vec<f64>) {
    let members: Vec<Box<dyn common_weakness::surrogate::Surrogate<Bk>>> = (0..2)
        .map(|i| {
            let w1 = Tensor::<Bk, 2>::from_data(TensorData::new(mlp_weights(10 + i, 12, 6), [12, 6]), &device);
            let w2 = Tensor::<Bk, 2>::from_data(TensorData::new(mlp_weights(20 + i, 6, 3), [6, 3]), &device);
            Box::new(from_fn(format!("mlp{i}"), move |x: Tensor<Bk, 4>| {
                x.flatten::<2>(1, 3).matmul(w1.clone()).tanh().matmul(w2.clone()).mul_scalar(3.0)
            })) as Box<dyn common_weakness::surrogate::Surrogate<Bk>>
        })
        .collect();
    let ensemble = Ensemble::new(members).unwrap();
    let pixels: Vec<f32> = {
        let mut rng = AttackRng::new(5);
        (0..2 * 12).map(|_| rng.unit()).collect()
    };
    let x = Tensor::<Bk, 4>::from_data(TensorData::new(pixels, [2, 3, 2, 2]), &device);
    // L2 steps (no sign) so that rounding differences between backends stay small.
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3);
    let estimator = GradientEstimator::default()
        .with_sampling(Sampling::Spectrum { samples: 2, rho: 0.5, sigma: 0.05 })
        .with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 1.0 });
    let attack = Cwa::mi_cwa(config.with_seed(11)).with_model_gradient(estimator);
    let outcome = attack.run(&ensemble, x, &Objective::untargeted(vec![0, 1])).unwrap();
    (outcome.adversarial.into_data().convert::<f32>().to_vec::<f32>().unwrap(), outcome.final_loss)
}

#[test]
fn ndarray_and_wgpu_agree() {
    let (cpu, cpu_loss) = run_on::<super::common::B>(Default::default());
    let (gpu, gpu_loss) = run_on::<W>(Default::default());
    let worst = cpu.iter().zip(&gpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "ndarray and wgpu differ by {worst}");
    for (a, b) in cpu_loss.iter().zip(&gpu_loss) {
        assert!((a - b).abs() < 1e-3 * (1.0 + a.abs()), "losses {a} vs {b}");
    }
}
