//! A server of Burn's remote backend: hosts this machine's CPU backend so that an attack on
//! another machine can place surrogates on it (`Ensemble::with_devices` with a device of
//! `Device::remote_options(&RemoteHost::…)`, the library's `remote` feature; docs/scale.md).
//!
//! ```text
//! export COMMON_WEAKNESS_TOKEN=$(openssl rand -hex 32)     # or --token-file PATH
//! cargo run --release --features common-weakness-bench/remote --bin surrogate_server
//! # websocket on 127.0.0.1:3000: reach it from another machine through `ssh -L 3000:localhost:3000`
//! cargo run --release --features common-weakness-bench/remote --bin surrogate_server -- --transport iroh
//! # iroh (authenticated, encrypted): prints the server id that clients dial
//! ```
//!
//! Safe by default: websocket binds 127.0.0.1 (port `--port`, 3000) unless `--listen ADDR` says
//! otherwise, and every session must present the token (from `COMMON_WEAKNESS_TOKEN` or
//! `--token-file`, never the command line, which other users of the machine can read). Without
//! a token the server does not start. Websocket is unencrypted, and its route for tensors moving
//! between servers takes no token in Burn 0.22.1 (a transfer's random id is the key, carried in
//! clear): off loopback, anyone on the path reads the token and the tensors, and can fetch
//! tensors in transit. Across machines use iroh or an SSH tunnel.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;

use burn::server::{IrohIdentity, IrohTransport, RemoteServer, TokenAuthorizer, Transport, WebSocketTransport};
use burn::tensor::Device;
use clap::{Parser, ValueEnum};

/// The environment variable that holds the token.
const TOKEN_VARIABLE: &str = "COMMON_WEAKNESS_TOKEN";

/// Hosts this machine's backend for remote attacks.
#[derive(Parser, Debug)]
struct Options {
    /// The backend that runs the operations.
    #[arg(long, value_enum, default_value_t = ServerBackend::Flex)]
    backend: ServerBackend,
    /// How clients reach the server.
    #[arg(long, value_enum, default_value_t = TransportKind::Websocket)]
    transport: TransportKind,
    /// Websocket: the port to listen on, on 127.0.0.1 (0: any free port, printed at start).
    #[arg(long, default_value_t = 3000, conflicts_with = "listen")]
    port: u16,
    /// Websocket: the address to listen on instead of 127.0.0.1 (`0.0.0.0:3000`: every
    /// interface). Unencrypted: prefer iroh or an SSH tunnel across machines.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A file whose first line is the token (instead of the COMMON_WEAKNESS_TOKEN variable).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Iroh: the file that keeps the server's secret key, created on first use, so that its id
    /// survives restarts.
    #[arg(long, default_value = "surrogate-server.iroh-key")]
    identity: PathBuf,
}

/// The CPU backends this program can host.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ServerBackend {
    Flex,
    Ndarray,
}

/// The transports of Burn's remote server.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum TransportKind {
    /// Unencrypted: loopback, a trusted network, or an SSH tunnel.
    Websocket,
    /// Authenticated and encrypted, across networks (through n0's public relays).
    Iroh,
}

/// The token every client must present: from `--token-file` or the environment.
fn token(options: &Options) -> Result<String, String> {
    let token = match &options.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("--token-file {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => std::env::var(TOKEN_VARIABLE).unwrap_or_default(),
    };
    match token.is_empty() {
        true => Err(format!(
            "refusing to start without a token: every client must present one. Set {TOKEN_VARIABLE} (for \
             example `export {TOKEN_VARIABLE}=$(openssl rand -hex 32)`) or pass --token-file PATH; the command \
             line is not accepted, since other users of this machine can read it"
        )),
        false => Ok(token),
    }
}

fn serve(options: Options) -> Result<(), String> {
    let authorizer = TokenAuthorizer::new(token(&options)?).map_err(|e| format!("token: {e}"))?;
    #[allow(deprecated)] // burn-ndarray, deprecated in Burn 0.22, stays a backend of this crate
    let device = match options.backend {
        ServerBackend::Flex => Device::flex(),
        ServerBackend::Ndarray => Device::ndarray(),
    };
    let transport: Transport = match options.transport {
        TransportKind::Websocket => {
            let address = options.listen.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port)));
            let listener = TcpListener::bind(address).map_err(|e| format!("listening on {address}: {e}"))?;
            let address = listener.local_addr().map_err(|e| format!("listening on {address}: {e}"))?;
            if !address.ip().is_loopback() {
                eprintln!(
                    "warning: websocket on {address} is unencrypted: the token and the tensors cross the \
                     network in clear, and whoever reads them can also fetch the tensors moving between \
                     servers (that route takes no token). Prefer --transport iroh or an SSH tunnel to \
                     127.0.0.1 (docs/scale.md)."
                );
            }
            println!("serving {:?} over websocket on ws://{address} (token required; Ctrl-C stops)", options.backend);
            WebSocketTransport::from_listener(listener).into()
        }
        TransportKind::Iroh => {
            let identity = IrohIdentity::load_or_create(&options.identity)
                .map_err(|e| format!("--identity {}: {e}", options.identity.display()))?;
            let transport = IrohTransport::new(identity);
            println!("serving {:?} over iroh as {} (token required; Ctrl-C stops)", options.backend, transport.id());
            transport.into()
        }
    };
    RemoteServer::new([device]).with_authorizer(authorizer).serve(transport).map_err(|e| format!("serving: {e}"))
}

fn main() {
    if let Err(message) = serve(Options::parse()) {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
