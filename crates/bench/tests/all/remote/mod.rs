//! Burn's remote backend on this machine's loopback: servers (flex behind them, a token
//! required) started and stopped by the tests, every wait bounded so that a hung connection
//! fails a test instead of hanging CI.

mod equality;
mod security;

use std::sync::mpsc;
use std::time::Duration;

use burn::remote::RemoteHost;
use burn::tensor::{Device, Tensor, TensorData};
use common_weakness_bench::remote::LoopbackServers;

/// The token the test servers require.
const TOKEN: &str = "the tests' token";

/// Loopback servers requiring [`TOKEN`], and their devices.
struct Servers(LoopbackServers);

impl Servers {
    fn start(count: usize) -> Self {
        Self(LoopbackServers::start(count, TOKEN).expect("loopback servers start"))
    }

    /// Server `index`'s device 0, connected with `token`, with autodiff.
    fn device(&self, index: usize, token: Option<&str>) -> Option<Device> {
        connect(&self.0.urls[index], token)
    }
}

/// Device 0 of the server at `url`, connected with `token`, with autodiff; None when the
/// server refused or did not answer within 30 s.
fn connect(url: &str, token: Option<&str>) -> Option<Device> {
    let url = url.to_string();
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

/// Whether `device` computes: 1 + 2 on it, within 30 s.
fn serves(device: Device) -> bool {
    let sum = within(Duration::from_secs(30), move || {
        Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &device).sum().into_scalar::<f32>()
    });
    sum == Some(3.0)
}

/// `work` in a thread of its own: None when it did not finish within `limit`.
fn within<T: Send + 'static>(limit: Duration, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        sender.send(work()).ok();
    });
    receiver.recv_timeout(limit).ok()
}
