//! Attacks on Burn's remote backend: a websocket server on this machine (flex behind it),
//! started and stopped by the test; the attack addresses it as a device and must give the
//! adversarial examples of the same ensemble run locally.
//!
//! Two servers work because an ensemble on devices computes its gradient model by model
//! (`GradientMode::Auto`): in Burn 0.21 every transfer between servers after the first gets
//! transfer id 1 (`burn-remote`'s `get_next_transfer_id` increments a copy of its counter),
//! so two transfers in flight out of one server at once — a joint backward pass sending
//! every remote model its outputs' gradient — wait for each other forever. docs/scale.md has
//! the details.

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burn::backend::remote::RemoteDevice;
use burn::backend::{Autodiff, Flex, RemoteBackend};
use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::{Attack, Cwa, CwaConfig};
use common_weakness::ensemble::{Combination, Ensemble};
use common_weakness::objective::Objective;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_fn, Surrogate};
use common_weakness::threat::ThreatModel;

/// Websocket servers of Burn's remote backend on free ports of this machine; they stop when
/// this is dropped.
struct Servers {
    runtime: Option<tokio::runtime::Runtime>,
    ports: Vec<u16>,
}

impl Servers {
    fn start(count: usize) -> Self {
        let listeners: Vec<TcpListener> = (0..count).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(listeners);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for &port in &ports {
            runtime.spawn(burn::server::start_websocket_async(Default::default(), port));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in &ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "the server on port {port} did not start within 30 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Self { runtime: Some(runtime), ports }
    }

    fn device(&self, index: usize) -> RemoteDevice {
        RemoteDevice::new(&format!("ws://127.0.0.1:{}", self.ports[index]))
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

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
/// `devices[i]` and the images on `home`: the adversarial pixels.
fn attack(home: &Device, devices: [Device; 3]) -> Vec<f32> {
    let images = seeded::<4>(5, [2, 3, 8, 8], home).add_scalar(0.5);
    let objective = Objective::untargeted(vec![0, 3]);
    let config = CwaConfig::paper(0.5).with_threat(ThreatModel::l2(0.5)).with_iterations(3).with_seed(11);
    let mut pixels = Vec::new();
    for combination in [Combination::LogitMean, Combination::LossMean] {
        let members = vec![mlp(10, &devices[0]), mlp(20, &devices[1]), mlp(30, &devices[2])];
        let ensemble = Ensemble::new(members).unwrap().with_devices(devices.to_vec()).unwrap();
        let attack = Cwa::mi_cwa(config.clone()).with_combination(combination);
        let outcome = attack.run(&ensemble, images.clone(), &objective).unwrap();
        pixels.extend(outcome.adversarial.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
    }
    pixels
}

/// The attack with its images on `home` and model `i` on `devices[i]`, on Burn's remote
/// backend, in a thread of its own: None when it did not finish within `limit` (a hung
/// connection fails the test instead of hanging CI).
fn remote_attack(home: RemoteDevice, devices: [RemoteDevice; 3], limit: Duration) -> Option<Vec<f32>> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        sender.send(attack::<Autodiff<RemoteBackend>>(&home, devices)).ok();
    });
    receiver.recv_timeout(limit).ok()
}

fn assert_matches(local: &[f32], remote: &[f32], what: &str) {
    assert_eq!(local.len(), remote.len(), "{what}: as many pixels as the local run");
    let worst = local.iter().zip(remote).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{what} and the local run differ by {worst}");
}

#[test]
fn ensembles_on_one_and_on_two_remote_servers_match_the_local_run() {
    let local = attack::<Autodiff>(&Default::default(), Default::default());
    assert!(!local.is_empty());
    let servers = Servers::start(2);
    let (a, b) = (servers.device(0), servers.device(1));
    let limit = Duration::from_secs(120);
    let one =
        remote_attack(a.clone(), [a.clone(), a.clone(), a.clone()], limit).expect("one server: done within 120 s");
    assert_matches(&local, &one, "one server");
    // Split: the images and the second model on one server, the other two models on the
    // other; every forward and backward pass of models 0 and 2 crosses between them.
    let two = remote_attack(a.clone(), [b.clone(), a, b], limit).expect("two servers: done within 120 s");
    assert_matches(&local, &two, "two servers");
    drop(servers);
}
