//! Burn's remote backend on this machine's loopback: servers (flex behind them, a token
//! required) started and stopped by the tests, every wait bounded so that a hung connection
//! fails a test instead of hanging CI.

mod equality;
mod security;

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use burn::remote::RemoteHost;
use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use burn::tensor::{Device, Tensor, TensorData};

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
        connect(&self.urls[index], token)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
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
