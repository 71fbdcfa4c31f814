//! Test harness for the real local endpoints: moto server (SNS, SQS) and the Lambda run by
//! `cargo lambda watch`, both on free 127.0.0.1 ports, both stopped when dropped.
//!
//! The tools come from the project's virtualenv (`make tools`, scripts/setup-tools.sh). A
//! missing tool fails the test with a message saying so: these tests never pass silently.

#![allow(dead_code)]

pub mod batch;
pub mod choices;
pub mod corpus;
pub mod emf;
pub mod fault_proxy;
pub mod http;
pub mod runtime_api;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Dummy credentials and region for moto, set for the Lambda and the test's own clients.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "testing";

/// How long a cold `cargo lambda watch` build of the function may take on 2 cores.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of the project, e.g. `events/oom-report.json`.
pub fn project_file(relative: &str) -> PathBuf {
    root().join(relative)
}

/// A tool from the project's virtualenv; fails the test, saying what to do, when missing.
pub fn tool(name: &str) -> PathBuf {
    let path = root().join(".venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make tools` (scripts/setup-tools.sh) to install the pinned test tools into .venv",
        path.display()
    );
    path
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free port")
}

/// A fresh log file under cargo's per-test temporary directory.
fn log_file(prefix: &str) -> (PathBuf, File) {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{}-{n}.log", std::process::id()));
    let file = File::create(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    (path, file)
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A plain HTTP GET on 127.0.0.1; `None` when nothing answers yet.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// Stops a child: SIGTERM first (cargo-lambda then stops the function it runs, which lives in
/// its own process group), SIGKILL if it is still there after a few seconds.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// moto server on a free 127.0.0.1 port.
pub struct MotoServer {
    child: Child,
    /// The port.
    pub port: u16,
    /// `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL.
    pub endpoint: String,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto server (scripts/moto-server.py) and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let (log, file) = log_file("moto");
        // moto_server, with DynamoDB's atomic conditional writes (see the script).
        let child = Command::new(tool("python"))
            .arg(project_file("scripts/moto-server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("cannot start moto_server");
        let mut server = Self { child, port, endpoint: format!("http://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(http_get(port, "/moto-api/"), Some((200, _))) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited ({status}) before answering:\n{}", read_log(&server.log));
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {port} in 60 s:\n{}",
                read_log(&server.log)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// moto's view of its backends (`/moto-api/data.json`): what SNS received, before any
    /// protocol picked its rendering.
    pub fn data(&self) -> serde_json::Value {
        let (status, body) = http_get(self.port, "/moto-api/data.json").expect("moto answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("moto-api data is JSON")
    }

    /// The raw messages published to a topic: `(message, subject, attributes)`.
    pub fn published(&self, topic_arn: &str) -> Vec<(String, Option<String>, serde_json::Value)> {
        let data = self.data();
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        let topic = topics.iter().find(|t| t["arn"] == topic_arn).unwrap_or_else(|| panic!("no topic {topic_arn}"));
        topic["sent_notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|n| (n[1].as_str().unwrap_or_default().to_owned(), n[2].as_str().map(str::to_owned), n[3].clone()))
            .collect()
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// The environment that points the AWS SDK at this server, with dummy credentials.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", ACCESS_KEY.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
        ]
    }

    /// SDK configuration for the test's own clients.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(ACCESS_KEY, ACCESS_KEY, None, None, "moto"))
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Variables a developer's shell may hold that would change what the function does.
const SCRUBBED: &[&str] = &[
    "TOPIC_ARN",
    "MIN_SEVERITY",
    "DISABLED_RULES",
    "EXTRA_RULES_FILE",
    "MAX_DECOMPRESSED_BYTES",
    "SUPPRESS_SECONDS",
    "METRICS_PER_FUNCTION",
    "SUPPRESS_CATEGORY_SECONDS",
    "SUPPRESS_TABLE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_LOG_GROUP_NAME",
];

/// True for the variables cargo sets for a running test (not those a user sets for cargo).
fn is_cargo_test_variable(name: &str) -> bool {
    name == "OUT_DIR"
        || name == "CARGO"
        || name == "CARGO_CRATE_NAME"
        || name == "CARGO_BIN_NAME"
        || name == "CARGO_PRIMARY_PACKAGE"
        || name == "CARGO_TARGET_TMPDIR"
        || name == "CARGO_RUSTC_CURRENT_DIR"
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

/// The Lambda, run by `cargo lambda watch` on a free invoke port.
pub struct LambdaWatch {
    child: Child,
    /// The invoke port.
    pub port: u16,
    log: PathBuf,
}

impl LambdaWatch {
    /// Starts `cargo lambda watch` with exactly these function variables (on top of a scrubbed
    /// environment), and waits until it accepts invokes. The function is built (or found built)
    /// on the first invoke.
    pub fn start(envs: &[(&str, String)]) -> Self {
        Self::start_with(envs, 1)
    }

    /// [`Self::start`] with up to `concurrency` instances of the function, each with its own
    /// memory, as Lambda runs concurrent invocations.
    pub fn start_with(envs: &[(&str, String)], concurrency: usize) -> Self {
        let port = free_port();
        let (log, file) = log_file("lambda-watch");
        let bin = tool("cargo-lambda").parent().map(Path::to_path_buf).unwrap_or_default();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = Command::new(tool("cargo-lambda"));
        command
            .args(["lambda", "watch", "--ignore-changes", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .args(["--concurrency", &concurrency.to_string()])
            .current_dir(root())
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for name in SCRUBBED {
            command.env_remove(name);
        }
        // `cargo test` gives this process CARGO_PKG_NAME, CARGO_MANIFEST_DIR, OUT_DIR and the
        // like. Build scripts (ring's, for one) rerun when those change, so passing them on to
        // the `cargo run` inside `cargo lambda watch` would rebuild the SDK's dependency tree
        // here, and again on the next plain `cargo build`.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if is_cargo_test_variable(&name) {
                command.env_remove(name.as_ref());
            }
        }
        for (name, value) in envs {
            command.env(name, value);
        }
        let child = command.spawn().expect("cannot start cargo lambda watch");
        let mut watch = Self { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return watch;
            }
            if let Ok(Some(status)) = watch.child.try_wait() {
                panic!("cargo lambda watch exited ({status}):\n{}", watch.log());
            }
            assert!(Instant::now() < deadline, "cargo lambda watch did not listen on {port}:\n{}", watch.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `cargo lambda invoke --data-file FILE`: the exit status, stdout (the response) and stderr
    /// (the error, for a failed invocation).
    pub fn invoke(&self, data_file: &Path) -> (ExitStatus, String, String) {
        let (out_path, out) = log_file("invoke-out");
        let (err_path, err) = log_file("invoke-err");
        let mut child = Command::new(tool("cargo-lambda"))
            .args(["lambda", "invoke", "lambda-troubleshooter", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(data_file)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot run cargo lambda invoke");
        let deadline = Instant::now() + INVOKE_TIMEOUT;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() > deadline {
                stop(&mut child);
                panic!("cargo lambda invoke {} took over {INVOKE_TIMEOUT:?}:\n{}", data_file.display(), self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, read_log(&out_path), read_log(&err_path))
    }

    /// Invokes and parses the response, failing the test (with the function's log) if the
    /// invocation failed.
    pub fn invoke_ok(&self, data_file: &Path) -> serde_json::Value {
        let (status, stdout, stderr) = self.invoke(data_file);
        assert!(
            status.success(),
            "invoke {} failed ({status}): {stderr}\n--- cargo lambda watch:\n{}",
            data_file.display(),
            self.log()
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("response is not JSON ({e}): {stdout}"))
    }

    /// What `cargo lambda watch` and the function printed so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// `(rule_id, delivery)` of an invoke response's findings, sorted: what became of each
/// (`published`, `suppressed`, `duplicate`, `muted`).
pub fn deliveries(response: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = response["findings"]
        .as_array()
        .map(|findings| {
            findings
                .iter()
                .map(|f| {
                    (
                        f["rule_id"].as_str().unwrap_or_default().to_owned(),
                        f["delivery"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The rule ids of an invoke response's findings, sorted.
pub fn rule_ids(response: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = response["findings"]
        .as_array()
        .map(|findings| findings.iter().filter_map(|f| f["rule_id"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// `text` without whitespace and the box drawing of cargo-lambda's error report, which wraps
/// long error messages at the terminal width: compare `squash(a).contains(&squash(b))`.
pub fn squash(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && !matches!(c, '│' | '×')).collect()
}
