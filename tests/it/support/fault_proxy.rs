//! A fault-injecting HTTP proxy between the Lambda and moto server: the outside world failing
//! in the ways SNS really fails (throttling, unreachable, slow), switched by the test while the
//! function keeps running, so one warm instance meets the fault and then the recovery.
//!
//! Point one service at it with `AWS_ENDPOINT_URL_<SERVICE>` (the AWS SDK's service-specific
//! endpoint variable); every other service still goes straight to moto. Each connection carries
//! one request: the proxy answers with `Connection: close`, so the SDK never reuses a
//! connection the proxy is about to drop.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::read_request;

/// What the proxy does with the next requests.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forwards every request to moto.
    Pass,
    /// Answers the next `times` requests with an error (`status`, AWS query-protocol `code`),
    /// then forwards again.
    Throttle {
        /// How many requests get the error.
        times: usize,
        /// The HTTP status (400 for `Throttling`, 429 for SNS's `Throttled`).
        status: u16,
        /// The error code.
        code: &'static str,
    },
    /// Closes every connection as soon as it is accepted: nothing reaches SNS.
    Unreachable,
    /// Reads each request, says nothing for this long, then closes the connection: nothing
    /// reaches SNS.
    Silent(Duration),
}

/// One request the proxy saw: the API action and what the proxy did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `Action=` of a query-protocol request, or the `X-Amz-Target` operation.
    pub action: String,
    /// `forwarded`, `throttled`, `dropped` or `silent`.
    pub outcome: &'static str,
}

#[derive(Debug)]
struct State {
    fault: Fault,
    seen: Vec<Seen>,
}

/// The proxy; it stops serving when the test process ends.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_SNS`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// A proxy to moto on `upstream_port`, forwarding until told otherwise.
    pub fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let state = Arc::new(Mutex::new(State { fault: Fault::Pass, seen: Vec::new() }));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, upstream_port, &state));
            }
        });
        Self { endpoint, state }
    }

    /// Switches the fault for the requests to come.
    pub fn set(&self, fault: Fault) {
        self.state.lock().expect("proxy state").fault = fault;
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("proxy state").seen.clone()
    }

    /// How many requests for `action` ended with `outcome`.
    pub fn count(&self, action: &str, outcome: &str) -> usize {
        self.seen().iter().filter(|s| s.action == action && s.outcome == outcome).count()
    }
}

fn serve(mut client: TcpStream, upstream_port: u16, state: &Mutex<State>) {
    if matches!(state.lock().expect("proxy state").fault, Fault::Unreachable) {
        record(state, "?", "dropped");
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Some((head, body)) = read_request(&client) else { return };
    let action = action_of(&head, &body);
    let fault = {
        let mut guard = state.lock().expect("proxy state");
        let fault = guard.fault.clone();
        if let Fault::Throttle { times, status, code } = fault {
            guard.fault = if times > 1 { Fault::Throttle { times: times - 1, status, code } } else { Fault::Pass };
        }
        fault
    };
    match fault {
        Fault::Pass => {
            record(state, &action, "forwarded");
            if let Some(response) = forward(&head, &body, upstream_port) {
                let _ = client.write_all(&response);
            }
        }
        Fault::Throttle { status, code, .. } => {
            record(state, &action, "throttled");
            let body = format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            );
            let _ = write!(
                client,
                "HTTP/1.1 {status} Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Fault::Silent(pause) => {
            record(state, &action, "silent");
            std::thread::sleep(pause);
        }
        Fault::Unreachable => record(state, &action, "dropped"),
    }
    let _ = client.shutdown(Shutdown::Both);
}

fn record(state: &Mutex<State>, action: &str, outcome: &'static str) {
    state.lock().expect("proxy state").seen.push(Seen { action: action.to_owned(), outcome });
}

fn action_of(head: &str, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return action.to_owned();
    }
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("x-amz-target")))
        .and_then(|(_, target)| target.trim().rsplit('.').next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Sends the request to moto on a connection of its own and returns moto's whole response,
/// marked `Connection: close`.
fn forward(head: &str, body: &[u8], upstream_port: u16) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).ok()?;
    upstream.write_all(format!("{}Connection: close\r\n\r\n", without_connection(head)).as_bytes()).ok()?;
    upstream.write_all(body).ok()?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (response_head, rest) = response.split_at(split);
    let mut out =
        format!("{}Connection: close", without_connection(&String::from_utf8_lossy(response_head))).into_bytes();
    out.extend_from_slice(rest);
    Some(out)
}

/// An HTTP head's lines without its `Connection` header, each ended by CRLF.
fn without_connection(head: &str) -> String {
    head.lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).map(|l| format!("{l}\r\n")).collect()
}
