//! A server of Burn's remote backend: hosts this machine's backend so that an attack on
//! another machine can place surrogates on it (`Ensemble::with_devices` with
//! `RemoteDevice::new("ws://host:port")`, the library's `remote` feature).
//!
//! ```text
//! cargo run --release --features common-weakness-bench/remote --example surrogate_server -- --backend flex --port 3000 --listen-all
//! ```
//!
//! **Read docs/scale.md first.** Burn 0.21's websocket server listens on every interface
//! (`0.0.0.0`) and has no authentication: anyone who reaches the port can run operations on
//! this machine's backend and read its tensors. It cannot be bound to 127.0.0.1, so this
//! program refuses to start until `--listen-all` says that this is understood. Run it on a
//! trusted network, or with a firewall that admits only an SSH tunnel
//! (`ssh -L 3000:localhost:3000 server`).

use clap::{Parser, ValueEnum};

/// Hosts this machine's backend for remote attacks.
#[derive(Parser, Debug)]
struct Options {
    /// The backend that runs the operations.
    #[arg(long, value_enum, default_value_t = ServerBackend::Flex)]
    backend: ServerBackend,
    /// The port to listen on.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Confirms that the server listens on every interface, unauthenticated (Burn 0.21 offers
    /// nothing else).
    #[arg(long)]
    listen_all: bool,
}

/// The CPU backends this program can host (both implement Burn's `BackendIr`).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ServerBackend {
    Flex,
    Ndarray,
}

fn main() {
    let options = Options::parse();
    if !options.listen_all {
        eprintln!(
            "refusing to start: Burn 0.21's remote server listens on 0.0.0.0:{port} (every interface) without \
             authentication, and cannot be bound to 127.0.0.1. Anyone who reaches the port can run operations \
             here. Pass --listen-all on a trusted network or behind a firewall (docs/scale.md).",
            port = options.port
        );
        std::process::exit(2);
    }
    println!("serving {:?} on 0.0.0.0:{} (Ctrl-C stops)", options.backend, options.port);
    match options.backend {
        ServerBackend::Flex => burn::server::start_websocket::<burn::backend::Flex>(Default::default(), options.port),
        ServerBackend::Ndarray => {
            burn::server::start_websocket::<burn::backend::NdArray>(Default::default(), options.port)
        }
    }
}
