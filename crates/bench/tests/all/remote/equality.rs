//! Attacks with their models on remote servers give the adversarial examples of the same
//! ensemble run locally: on one server, split over two, the ensemble gradient joint (one
//! backward pass through every model, tensors crossing between the servers) or model by model.

use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::attack::{Attack, Cwa, CwaConfig};
use common_weakness::ensemble::{Combination, Ensemble, GradientMode};
use common_weakness::objective::Objective;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_fn, Surrogate};
use common_weakness::threat::ThreatModel;

use super::{within, Servers, TOKEN};

fn seeded<const D: usize>(seed: u64, shape: [usize; D], device: &Device) -> Tensor<D> {
    let mut rng = AttackRng::new(seed);
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.unit() - 0.5).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A tanh MLP over 3 × 8 × 8 images, 4 classes, its weights on `device`.
fn mlp(seed: u64, device: &Device) -> Box<dyn Surrogate> {
    let w1 = seeded::<2>(seed, [3 * 8 * 8, 6], device).mul_scalar(0.6);
    let w2 = seeded::<2>(seed + 1, [6, 4], device).mul_scalar(2.0);
    Box::new(from_fn(format!("mlp{seed}"), move |x: Tensor<4>| {
        x.flatten::<2>(1, 3).matmul(w1.clone()).tanh().matmul(w2.clone()).mul_scalar(3.0)
    }))
}

/// MI-CWA (L2, 3 iterations) under the logit mean and the loss mean, with model `i` on
/// `devices[i]`, the images on `home` and the ensemble gradient computed in `mode`: the
/// adversarial pixels.
fn attack(home: &Device, devices: [Device; 3], mode: GradientMode) -> Vec<f32> {
    let images = seeded::<4>(5, [2, 3, 8, 8], home).add_scalar(0.5);
    let objective = Objective::untargeted(vec![0, 3]);
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3).with_seed(11);
    let mut pixels = Vec::new();
    for combination in [Combination::LogitMean, Combination::LossMean] {
        let members = vec![mlp(10, &devices[0]), mlp(20, &devices[1]), mlp(30, &devices[2])];
        let ensemble = Ensemble::new(members).unwrap().with_devices(devices.to_vec()).unwrap().with_gradient_mode(mode);
        let attack = Cwa::mi_cwa(config.clone()).with_combination(combination);
        let outcome = attack.run(&ensemble, images.clone(), &objective).unwrap();
        pixels.extend(outcome.adversarial.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
    }
    pixels
}

fn assert_matches(local: &[f32], remote: &[f32], what: &str) {
    assert_eq!(local.len(), remote.len(), "{what}: as many pixels as the local run");
    let worst = local.iter().zip(remote).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{what} and the local run differ by {worst}");
}

#[test]
fn ensembles_on_one_and_on_two_remote_servers_match_the_local_run_joint_and_model_by_model() {
    let flex = Device::flex().autodiff();
    let local = attack(&flex, [flex.clone(), flex.clone(), flex.clone()], GradientMode::Joint);
    assert!(!local.is_empty());
    let servers = Servers::start(2);
    let a = servers.device(0, Some(TOKEN)).expect("server 0 accepts its token");
    let b = servers.device(1, Some(TOKEN)).expect("server 1 accepts its token");
    let limit = Duration::from_secs(120);
    for mode in [GradientMode::Joint, GradientMode::PerModel, GradientMode::Auto] {
        let (home, devices) = (a.clone(), [a.clone(), a.clone(), a.clone()]);
        let one = within(limit, move || attack(&home, devices, mode))
            .unwrap_or_else(|| panic!("one server, {mode:?}: not done within 120 s"));
        assert_matches(&local, &one, &format!("one server, {mode:?}"));
        // Split: the images and the second model on one server, the other two models on the
        // other; every forward and backward pass of models 0 and 2 crosses between them (in a
        // joint backward pass, both remote models' gradients are in flight at once).
        let (home, devices) = (a.clone(), [b.clone(), a.clone(), b.clone()]);
        let two = within(limit, move || attack(&home, devices, mode))
            .unwrap_or_else(|| panic!("two servers, {mode:?}: not done within 120 s"));
        assert_matches(&local, &two, &format!("two servers, {mode:?}"));
    }
    drop(servers);
}
