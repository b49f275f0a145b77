//! Servers of Burn's remote backend on this machine's loopback, for the `scale` example and
//! the remote tests: flex behind each, a token required, on free ports.

use std::net::TcpListener;

use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use burn::tensor::Device;

use crate::{Error, Result};

/// Websocket servers of Burn's remote backend on free loopback ports, each serving this
/// machine's flex device to clients with `token`; they stop when this is dropped. (A client
/// still connected to a stopped server panics inside burn-remote: keep the servers for as long
/// as their devices are used.)
pub struct LoopbackServers {
    runtime: Option<tokio::runtime::Runtime>,
    /// Each server's `ws://127.0.0.1:PORT` address, in start order.
    pub urls: Vec<String>,
}

impl LoopbackServers {
    /// Starts `count` servers requiring `token`. Each listener is bound before this returns,
    /// so a client may dial at once.
    pub fn start(count: usize, token: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let mut urls = Vec::with_capacity(count);
        for _ in 0..count {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let url = format!("ws://{}", listener.local_addr()?);
            let authorizer = TokenAuthorizer::new(token)
                .map_err(|e| Error::Io(std::io::Error::other(format!("the servers' token: {e}"))))?;
            let serving = RemoteServer::new([Device::flex()])
                .with_authorizer(authorizer)
                .serve_async(WebSocketTransport::from_listener(listener));
            let name = url.clone();
            runtime.spawn(async move {
                if let Err(e) = serving.await {
                    eprintln!("loopback server {name}: {e}");
                }
            });
            urls.push(url);
        }
        Ok(Self { runtime: Some(runtime), urls })
    }
}

impl Drop for LoopbackServers {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
