//! What a server lets in: clients without the token, with a wrong one or with malformed frames
//! are refused and the server keeps serving a client with the token; `surrogate_server` does
//! not start without a token and, without `--listen`, cannot be reached on this machine's own
//! non-loopback addresses.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Error as WsError, Message};

use super::{connect, serves, within, Servers, TOKEN};

/// How long a server may take to close a connection it refuses.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_server_refuses_clients_without_its_token_and_keeps_serving() {
    let servers = Servers::start(1);
    assert!(servers.device(0, None).is_none(), "a client without a token was served");
    assert!(servers.device(0, Some("not the token")).is_none(), "a client with a wrong token was served");
    let device = servers.device(0, Some(TOKEN)).expect("the server still serves a client with its token");
    assert!(serves(device), "an operation on the server gives 1 + 2 = 3");
}

/// Whether the server closed the websocket `route` of `url` after it received `frames`.
fn closes_after(url: &str, route: &str, frames: &[Message]) -> bool {
    let (mut socket, _) = tungstenite::connect(format!("{url}/{route}")).expect("the websocket handshake");
    if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
        stream.set_read_timeout(Some(CLOSE_LIMIT)).unwrap();
    }
    for frame in frames {
        socket.send(frame.clone()).expect("the frame is sent");
    }
    loop {
        match socket.read() {
            Ok(Message::Close(_)) => return true,
            Ok(_) => continue,
            Err(WsError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

/// Whether the server closed a plain TCP connection to `url` after it received `bytes` (it
/// may answer first, with an HTTP error).
fn closes_raw(url: &str, bytes: &[u8]) -> bool {
    let address = url.trim_start_matches("ws://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(CLOSE_LIMIT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn a_server_closes_connections_that_send_malformed_frames_and_keeps_serving() {
    let servers = Servers::start(1);
    let url = servers.0.urls[0].clone();
    let garbage: Vec<u8> = (0..257u32).map(|i| (i * 37 % 251) as u8).collect();
    let check = move || {
        // Bytes that are not HTTP, then websockets that send a text frame (which the server
        // ignores) and binary garbage where the protocol's first message belongs: on the
        // session route (where the token would be) and on the route for tensors moving
        // between servers.
        assert!(closes_raw(&url, &garbage), "the server kept a connection that sent bytes that are not HTTP");
        let frames = [Message::text("not a message of Burn's protocol"), Message::binary(garbage.clone())];
        for route in ["session", "data"] {
            assert!(closes_after(&url, route, &frames), "the server kept /{route} open after a malformed frame");
        }
    };
    within(Duration::from_secs(120), check).expect("the malformed clients were handled within 120 s");
    let device = servers.device(0, Some(TOKEN)).expect("the server still serves a client with its token");
    assert!(serves(device), "an operation on the server gives 1 + 2 = 3");
}

/// A `surrogate_server` process, killed when this is dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// `surrogate_server` with `args`, its token from the environment (`None`: no token).
fn surrogate_server(args: &[&str], token: Option<&str>) -> ServerProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_surrogate_server"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.env_remove("COMMON_WEAKNESS_TOKEN");
    if let Some(token) = token {
        command.env("COMMON_WEAKNESS_TOKEN", token);
    }
    ServerProcess(command.spawn().expect("surrogate_server starts"))
}

/// This machine's own IPv4 addresses other than loopback, from the kernel's table of local
/// addresses (Linux's `/proc/net/fib_trie`: an address line, then `/32 host LOCAL`).
fn own_addresses() -> Vec<Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/fib_trie").expect("Linux's /proc/net/fib_trie");
    let lines: Vec<&str> = table.lines().map(str::trim).collect();
    let mut addresses: Vec<Ipv4Addr> = lines
        .windows(2)
        .filter(|pair| pair[1] == "/32 host LOCAL")
        .filter_map(|pair| pair[0].strip_prefix("|-- ")?.parse().ok())
        .filter(|address: &Ipv4Addr| !address.is_loopback())
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

#[test]
fn surrogate_server_without_listen_serves_on_loopback_only() {
    let own = own_addresses();
    assert!(!own.is_empty(), "this machine has no address besides loopback to check the server is unreachable on");
    let mut server = surrogate_server(&["--port", "0"], Some(TOKEN));
    let stdout = server.0.stdout.take().unwrap();
    let first_line = within(Duration::from_secs(60), move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = first_line.expect("surrogate_server says where it serves within 60 s").unwrap();
    let url = line.split_whitespace().find(|word| word.starts_with("ws://")).expect("a ws:// address").to_string();
    let address: SocketAddr = url.trim_start_matches("ws://").parse().unwrap();
    assert_eq!(address.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{line}");
    for ip in own {
        let outside = SocketAddr::new(IpAddr::V4(ip), address.port());
        let reached = TcpStream::connect_timeout(&outside, Duration::from_secs(5));
        assert!(reached.is_err(), "the server, started without --listen, is reachable on {outside}");
    }
    let device = connect(&url, Some(TOKEN)).expect("the server serves a client with its token on loopback");
    assert!(serves(device), "an operation on the server gives 1 + 2 = 3");
    assert!(connect(&url, Some("not the token")).is_none(), "a client with a wrong token was served");
}

/// How `server` exited, and what it wrote to stderr; None when it still runs after `limit`.
fn exit_of(mut server: ServerProcess, limit: Duration) -> Option<(ExitStatus, String)> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut stderr = String::new();
            server.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            return Some((status, stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn surrogate_server_refuses_to_start_without_a_token() {
    let empty_file = std::env::temp_dir().join(format!("surrogate-server-empty-token-{}", std::process::id()));
    std::fs::write(&empty_file, "\n").unwrap();
    let outside = own_addresses().first().map(|ip| format!("{ip}:0")).unwrap_or_else(|| "0.0.0.0:0".into());
    let empty = empty_file.to_str().unwrap();
    let cases = [vec!["--port", "0"], vec!["--listen", &outside], vec!["--port", "0", "--token-file", empty]];
    for args in cases {
        let exit = exit_of(surrogate_server(&args, None), Duration::from_secs(60));
        let (status, stderr) = exit.unwrap_or_else(|| panic!("surrogate_server {args:?} without a token still runs"));
        assert_eq!(status.code(), Some(2), "surrogate_server {args:?} without a token: {stderr}");
        assert!(stderr.contains("refusing to start without a token"), "{args:?}: {stderr}");
    }
    std::fs::remove_file(empty_file).ok();
}
