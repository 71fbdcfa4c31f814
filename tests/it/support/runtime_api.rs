//! The Lambda Runtime API, served on 127.0.0.1 to one function process: the routes
//! `lambda_runtime` uses (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>),
//! one invocation at a time, driven by the test. It runs the binary as Lambda runs it, warm,
//! for as many invocations as a test wants, and reads the process's memory between them.

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::http::read_request;

/// What the function answered for one invocation.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `response` or `error` (an invocation or init error).
    pub outcome: &'static str,
    /// The body the function posted.
    pub body: Vec<u8>,
}

/// A function process under the emulated Runtime API; killed when dropped.
pub struct RuntimeApi {
    child: Child,
    events: Sender<Vec<u8>>,
    answers: Receiver<Answer>,
}

impl RuntimeApi {
    /// Starts `binary` with `envs` (and the Runtime API's own variables) on a fresh port.
    pub fn start(binary: &std::path::Path, envs: &[(&str, String)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
        let address = listener.local_addr().expect("runtime API address");
        let (events, next) = channel::<Vec<u8>>();
        let (answer, answers) = channel::<Answer>();
        let next = Arc::new(Mutex::new(next));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (next, answer) = (Arc::clone(&next), answer.clone());
                std::thread::spawn(move || serve(stream, &next, &answer));
            }
        });
        let mut command = Command::new(binary);
        command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        command.env("AWS_LAMBDA_RUNTIME_API", address.to_string());
        for (name, value) in [
            ("AWS_LAMBDA_FUNCTION_NAME", "lambda-troubleshooter"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
            ("RUST_LOG", "warn"),
        ] {
            command.env(name, value);
        }
        for (name, value) in envs {
            command.env(name, value);
        }
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start");
        Self { child, events, answers }
    }

    /// Hands the function one event and waits for its answer.
    pub fn invoke(&self, event: &[u8]) -> Answer {
        self.events.send(event.to_vec()).expect("the runtime API is serving");
        self.answers.recv_timeout(Duration::from_secs(120)).expect("the function answered within 120 s")
    }

    /// The process's memory lines from /proc (`VmRSS`, `VmHWM`, …), in KiB.
    pub fn memory_kb(&self) -> HashMap<String, u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.starts_with("Vm"))
            .filter_map(|(name, value)| Some((name.to_owned(), value.split_whitespace().next()?.parse().ok()?)))
            .collect()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Invocations handed out, for unique request ids across connections.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

fn serve(mut stream: TcpStream, next: &Mutex<Receiver<Vec<u8>>>, answer: &Sender<Answer>) {
    let _ = stream.set_nodelay(true);
    while let Some((head, body)) = read_request(&stream) {
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
        if path.ends_with("/runtime/invocation/next") {
            let Ok(event) = next.lock().expect("event queue").recv() else { return };
            let request_number = REQUESTS.fetch_add(1, Ordering::SeqCst) + 1;
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: soak-{}-{request_number}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:lambda-troubleshooter\r\nContent-Length: {}\r\n\r\n",
                std::process::id(),
                event.len()
            );
            // One write, without Nagle's delay: a head and a body written apart would wait for
            // the client's delayed ACK (40 ms an invocation).
            let mut response = head.into_bytes();
            response.extend_from_slice(&event);
            if stream.write_all(&response).is_err() {
                return;
            }
        } else {
            let outcome = if path.ends_with("/response") { "response" } else { "error" };
            if stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").is_err() {
                return;
            }
            let _ = answer.send(Answer { outcome, body });
        }
    }
}
