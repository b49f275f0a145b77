//! Attacks on Burn's remote backend: websocket servers on this machine's loopback (flex behind
//! them, a token required), started and stopped by the tests; the attack addresses them as
//! devices and must give the adversarial examples of the same ensemble run locally. A client
//! without the token or with a wrong one is refused, and the server keeps serving.

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use burn::remote::RemoteHost;
use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::attack::{Attack, Cwa, CwaConfig};
use common_weakness::ensemble::{Combination, Ensemble};
use common_weakness::objective::Objective;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_fn, Surrogate};
use common_weakness::threat::ThreatModel;

/// The token the test servers require.
const TOKEN: &str = "the tests' token";

/// Websocket servers of Burn's remote backend on free loopback ports of this machine, each
/// requiring [`TOKEN`]; they stop when this is dropped.
struct Servers {
    runtime: Option<tokio::runtime::Runtime>,
    urls: Vec<String>,
}

impl Servers {
    fn start(count: usize) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut urls = Vec::new();
        for _ in 0..count {
            // Bound here, before any client dials: the port is known and already listening.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            urls.push(format!("ws://{}", listener.local_addr().unwrap()));
            let server = RemoteServer::new([Device::flex()]).with_authorizer(TokenAuthorizer::new(TOKEN).unwrap());
            let serving = server.serve_async(WebSocketTransport::from_listener(listener));
            runtime.spawn(async move { serving.await.expect("the test server serves") });
        }
        Self { runtime: Some(runtime), urls }
    }

    /// Server `index`'s device 0, connected with `token`, with autodiff.
    fn device(&self, index: usize, token: Option<&str>) -> Option<Device> {
        let url = self.urls[index].clone();
        let token = token.map(str::to_string);
        within(Duration::from_secs(30), move || {
            let host = RemoteHost::websocket(&url);
            let host = match token {
                Some(token) => host.with_credential(token),
                None => host,
            };
            Device::remote_options(&host).init().ok().map(Device::autodiff)
        })
        .flatten()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `work` in a thread of its own: None when it did not finish within `limit` (a hung
/// connection fails the test instead of hanging CI).
fn within<T: Send + 'static>(limit: Duration, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        sender.send(work()).ok();
    });
    receiver.recv_timeout(limit).ok()
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

fn assert_matches(local: &[f32], remote: &[f32], what: &str) {
    assert_eq!(local.len(), remote.len(), "{what}: as many pixels as the local run");
    let worst = local.iter().zip(remote).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-5, "{what} and the local run differ by {worst}");
}

#[test]
fn ensembles_on_one_and_on_two_remote_servers_match_the_local_run() {
    let flex = Device::flex().autodiff();
    let local = attack(&flex, [flex.clone(), flex.clone(), flex.clone()]);
    assert!(!local.is_empty());
    let servers = Servers::start(2);
    let a = servers.device(0, Some(TOKEN)).expect("server 0 accepts its token");
    let b = servers.device(1, Some(TOKEN)).expect("server 1 accepts its token");
    let limit = Duration::from_secs(120);
    let (home, devices) = (a.clone(), [a.clone(), a.clone(), a.clone()]);
    let one = within(limit, move || attack(&home, devices)).expect("one server: done within 120 s");
    assert_matches(&local, &one, "one server");
    // Split: the images and the second model on one server, the other two models on the
    // other; every forward and backward pass of models 0 and 2 crosses between them.
    let (home, devices) = (a.clone(), [b.clone(), a, b]);
    let two = within(limit, move || attack(&home, devices)).expect("two servers: done within 120 s");
    assert_matches(&local, &two, "two servers");
    drop(servers);
}

#[test]
fn a_server_refuses_clients_without_its_token_and_keeps_serving() {
    let servers = Servers::start(1);
    assert!(servers.device(0, None).is_none(), "a client without a token was served");
    assert!(servers.device(0, Some("not the token")).is_none(), "a client with a wrong token was served");
    let device = servers.device(0, Some(TOKEN)).expect("the server still serves a client with its token");
    let sum: f32 = within(Duration::from_secs(30), move || {
        Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device).sum().into_scalar()
    })
    .expect("an operation on the server finishes");
    assert_eq!(sum, 3.0);
}
