//! Finding the installed peers and talking to a peer process (JSON lines on stdout, commands on
//! stdin), every wait bounded.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long any single wait on a peer may take.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(20);

const INSTALL_HINT: &str = "run scripts/install-test-peers.sh (it prints HATO_TEST_NODE_PEERS \
     and HATO_TEST_PYTHON), or set HATO_SKIP_INTEROP=1 to skip the interop tests";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `smsc.js` and `esme.py` live.
fn scripts_dir() -> PathBuf {
    manifest_dir().join("tests/interop/peers")
}

/// A peer that is not there: a failure, or a skip with `HATO_SKIP_INTEROP=1`.
fn missing<T>(what: &str, detail: &str) -> Option<T> {
    if std::env::var("HATO_SKIP_INTEROP").as_deref() == Ok("1") {
        eprintln!("skipped: {what} is not installed ({detail}); HATO_SKIP_INTEROP=1");
        return None;
    }
    panic!("{what} is not installed: {detail}; {INSTALL_HINT}");
}

/// Runs `program args` to completion within [`PEER_TIMEOUT`]; `Err` says why it failed.
async fn probe(program: &OsString, args: &[&str], dir: &Path) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(PEER_TIMEOUT, output).await {
        Err(_) => Err(format!("{} {args:?} hung", program.to_string_lossy())),
        Ok(Err(error)) => Err(format!("cannot run {}: {error}", program.to_string_lossy())),
        Ok(Ok(output)) if !output.status.success() => Err(format!(
            "{} {args:?} failed: {}",
            program.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Ok(Ok(_)) => Ok(()),
    }
}

/// node and a `node_modules` holding node-smpp.
#[derive(Debug)]
pub struct NodePeers {
    node: OsString,
    modules: PathBuf,
}

impl NodePeers {
    /// `HATO_TEST_NODE_PEERS` (or `tests/interop/peers`) with `node_modules/smpp` in it, and
    /// `node` (or `HATO_TEST_NODE`); `None` when missing and skipping is allowed.
    pub async fn find() -> Option<NodePeers> {
        let dir = std::env::var_os("HATO_TEST_NODE_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(scripts_dir);
        let modules = dir.join("node_modules");
        if !modules.join("smpp/package.json").is_file() {
            return missing(
                "the node-smpp peer",
                &format!("no {}", modules.join("smpp").display()),
            );
        }
        let node = std::env::var_os("HATO_TEST_NODE").unwrap_or_else(|| "node".into());
        if let Err(error) = probe(&node, &["--version"], &dir).await {
            return missing("node", &error);
        }
        Some(NodePeers { node, modules })
    }

    /// `node peers/<script> args...`, resolving `require` from the found `node_modules`.
    pub fn spawn(&self, script: &str, args: &[&str]) -> PeerProcess {
        let mut command = Command::new(&self.node);
        command
            .arg(scripts_dir().join(script))
            .args(args)
            .env("NODE_PATH", &self.modules);
        PeerProcess::spawn(script, command)
    }
}

/// A python that imports smpplib.
#[derive(Debug)]
pub struct PythonPeers {
    python: OsString,
}

impl PythonPeers {
    /// `HATO_TEST_PYTHON` (or `.test-peers/venv/bin/python` at the repository root), checked
    /// to import smpplib; `None` when missing and skipping is allowed.
    pub async fn find() -> Option<PythonPeers> {
        let python = std::env::var_os("HATO_TEST_PYTHON").unwrap_or_else(|| {
            manifest_dir()
                .join("../../.test-peers/venv/bin/python")
                .into_os_string()
        });
        if let Err(error) = probe(&python, &["-c", "import smpplib"], manifest_dir()).await {
            return missing("the smpplib peer", &error);
        }
        Some(PythonPeers { python })
    }

    /// `python peers/<script> args...`.
    pub fn spawn(&self, script: &str, args: &[&str]) -> PeerProcess {
        let mut command = Command::new(&self.python);
        command
            .arg(scripts_dir().join(script))
            .args(args)
            .env("PYTHONUNBUFFERED", "1");
        PeerProcess::spawn(script, command)
    }
}

/// A running peer: its stdout read as lines (JSON events, or `READY <port>`), its stdin open
/// for commands. Killed when dropped. Its stderr goes to the test's output.
#[derive(Debug)]
pub struct PeerProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every JSON event read so far, in order.
    pub events: Vec<Value>,
}

impl PeerProcess {
    fn spawn(name: &str, mut command: Command) -> PeerProcess {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        PeerProcess {
            name: name.to_owned(),
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            events: Vec::new(),
        }
    }

    /// The next stdout line; panics (with the exit status) when the peer ended or is silent
    /// for [`PEER_TIMEOUT`].
    async fn line(&mut self) -> String {
        match tokio::time::timeout(PEER_TIMEOUT, self.lines.next_line()).await {
            Err(_) => panic!(
                "{} said nothing for {PEER_TIMEOUT:?}; events so far: {:#?}",
                self.name, self.events
            ),
            Ok(Err(error)) => panic!("reading {}: {error}", self.name),
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                let status = tokio::time::timeout(PEER_TIMEOUT, self.child.wait()).await;
                panic!(
                    "{} ended ({status:?}); events so far: {:#?}",
                    self.name, self.events
                );
            }
        }
    }

    /// Reads lines up to `READY <port>` and returns the port.
    pub async fn ready(&mut self) -> u16 {
        loop {
            let line = self.line().await;
            if let Some(port) = line.strip_prefix("READY ") {
                return port
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: bad READY line {line:?}", self.name));
            }
            self.record(&line);
        }
    }

    fn record(&mut self, line: &str) {
        match serde_json::from_str::<Value>(line) {
            Ok(event) => self.events.push(event),
            Err(_) => eprintln!("{}: {line}", self.name),
        }
    }

    /// Reads events until `done(&events)` holds, within [`PEER_TIMEOUT`] overall.
    pub async fn wait_until(&mut self, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + PEER_TIMEOUT;
        while !done(&self.events) {
            let line = match tokio::time::timeout_at(deadline, self.line()).await {
                Ok(line) => line,
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; events so far: {:#?}",
                    self.name, self.events
                ),
            };
            self.record(&line);
        }
    }

    /// Reads whatever the peer says during `period`.
    pub async fn read_for(&mut self, period: Duration) {
        let deadline = tokio::time::Instant::now() + period;
        while let Ok(line) = tokio::time::timeout_at(deadline, self.line()).await {
            self.record(&line);
        }
    }

    /// Reads events until one named `event` comes, and returns it.
    pub async fn next_named(&mut self, event: &str) -> Value {
        let seen = self.events.len();
        self.wait_until(event, |events| {
            events[seen..].iter().any(|e| e["event"] == event)
        })
        .await;
        self.events[seen..]
            .iter()
            .find(|e| e["event"] == event)
            .cloned()
            .expect("just seen")
    }

    /// Every event named `event` so far.
    pub fn named(&self, event: &str) -> Vec<&Value> {
        named(&self.events, event)
    }

    /// Writes one JSON command line to the peer's stdin.
    pub async fn send(&mut self, command: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let line = format!("{command}\n");
        tokio::time::timeout(PEER_TIMEOUT, async {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await
        })
        .await
        .unwrap_or_else(|_| panic!("{}: stdin blocked", self.name))
        .unwrap_or_else(|e| panic!("{}: writing a command: {e}", self.name));
    }

    /// Closes stdin (the node SMSC exits on it) and waits for the exit, killing the process
    /// if it takes too long.
    pub async fn finish(mut self) {
        self.stdin.take();
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Events named `event` among `events`.
pub fn named<'a>(events: &'a [Value], event: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == event).collect()
}
