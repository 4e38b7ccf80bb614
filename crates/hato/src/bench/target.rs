//! The server under test: a child process of this binary started for one run, or a server
//! that is already running (`--url`).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use super::{Hold, Plan, Scenario};

/// Longest wait for a spawned server to answer, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Target {
    /// Base URL, without a trailing slash.
    pub base: String,
    pub key: String,
    /// A small client of its own for `/metrics`, apart from the load generator's pool.
    pub control: reqwest::Client,
    spawned: Option<Spawned>,
}

struct Spawned {
    child: Child,
    dir: PathBuf,
    keep: bool,
}

impl Target {
    pub async fn start(plan: &Plan, run: usize) -> anyhow::Result<Self> {
        let control = reqwest::Client::builder()
            .http1_only()
            .timeout(Duration::from_secs(30))
            .build()?;
        let args = &plan.args;
        if let Some(url) = &args.url {
            return Ok(Self {
                base: url.trim_end_matches('/').to_owned(),
                key: args.api_key.clone().unwrap_or_default(),
                control,
                spawned: None,
            });
        }
        let dir = std::env::temp_dir().join(format!("hato-bench-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = dir.join("hato.toml");
        std::fs::write(&config, config_file(plan)?)
            .with_context(|| format!("cannot write {}", config.display()))?;
        let data = data_args(plan, &dir);

        let key = create_key(&config, &data).await?;
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = hato_command(&config)?
            .arg("serve")
            .args(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start the server")?;
        let mut target = Self {
            base: format!("http://127.0.0.1:{port}"),
            key,
            control,
            spawned: Some(Spawned {
                child,
                dir,
                keep: args.keep,
            }),
        };
        // Without a reachable carrier the server never becomes ready; it is alive all the same.
        let probe = if args.scenario == Scenario::Backlog && args.hold == Hold::Unbound {
            "/healthz"
        } else {
            "/readyz"
        };
        if let Err(error) = target.wait_for(probe).await {
            let log = target.log_tail();
            let _ = target.stop().await;
            return Err(error.context(format!("the server did not start; its log ends:\n{log}")));
        }
        Ok(target)
    }

    /// The server's process id, when this bench started it.
    pub fn pid(&self) -> Option<u32> {
        self.spawned.as_ref().map(|s| s.child.id())
    }

    async fn wait_for(&mut self, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(spawned) = &mut self.spawned
                && let Some(status) = spawned.child.try_wait()?
            {
                bail!("the server exited with {status}");
            }
            let answer = self
                .control
                .get(format!("{}{path}", self.base))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{path} did not answer 200 within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let Some(spawned) = &self.spawned else {
            return String::new();
        };
        let text = std::fs::read_to_string(spawned.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then waits for the server to drain and exit; removes its data unless kept.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Some(mut spawned) = self.spawned else {
            return Ok(());
        };
        let pid = spawned.child.id().to_string();
        // No signal API without unsafe code or another dependency: kill(1) sends it.
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = spawned.child.try_wait()? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = spawned.child.kill();
                let _ = spawned.child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if spawned.keep {
            eprintln!("kept {}", spawned.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&spawned.dir);
        }
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => bail!("the server exited with {status} after SIGTERM"),
            None => bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed"),
        }
    }
}

/// The spawned server's settings: the simulator's transport and delay, or a carrier that
/// never binds.
fn config_file(plan: &Plan) -> anyhow::Result<String> {
    let args = &plan.args;
    let mut text = String::from("# written by hato bench\nlog_format = \"text\"\n\n");
    let _ = writeln!(
        text,
        "[simulator]\ntransport = \"{}\"\nreport_delay = \"{}\"",
        plan.transport.as_str(),
        args.report_delay.trim()
    );
    if args.scenario == Scenario::Backlog && args.hold == Hold::Unbound {
        // A port that was just free and is closed again: every bind attempt is refused.
        let _ = writeln!(
            text,
            "\n[[connectors]]\nname = \"closed\"\nhost = \"127.0.0.1\"\nport = {}\n\
             system_id = \"bench\"\npassword = \"bench\"",
            free_port()?
        );
    }
    Ok(text)
}

fn data_args(plan: &Plan, dir: &Path) -> Vec<String> {
    match &plan.args.database_url {
        Some(url) => vec!["--database-url".into(), url.clone()],
        None => vec!["--data-dir".into(), dir.join("data").display().to_string()],
    }
}

/// This binary with the run's configuration file and none of the caller's `HATO_*` settings.
fn hato_command(config: &Path) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("cannot find the hato binary")?;
    let mut command = Command::new(exe);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HATO_") {
            command.env_remove(name);
        }
    }
    command.arg("--config").arg(config);
    Ok(command)
}

async fn create_key(config: &Path, data: &[String]) -> anyhow::Result<String> {
    let mut command = hato_command(config)?;
    command
        .args(["keys", "create", "--name", "bench"])
        .args(data);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await?
        .context("cannot run `hato keys create`")?;
    if !output.status.success() {
        bail!(
            "`hato keys create` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let key = String::from_utf8(output.stdout)?.trim().to_owned();
    if key.is_empty() {
        bail!("`hato keys create` printed no key");
    }
    Ok(key)
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}
