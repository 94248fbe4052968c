//! The demo's child processes (agents and manager, stopped when dropped), its stop signal, and
//! its secrets, private files and ports.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{DemoError, START_TIMEOUT, io};
use crate::emulator::Emulator;

/// A child `cairn` process, stopped with SIGTERM when dropped.
pub(super) struct Proc {
    /// What it is, for messages.
    name: String,
    /// The process.
    child: Child,
    /// Its stdout, kept open so that later prints do not fail.
    _stdout: BufReader<ChildStdout>,
    /// The address line it printed.
    pub(super) line: String,
}

impl Proc {
    /// Starts `cairn ARGS` and waits for its first stdout line.
    pub(super) fn start(name: &str, args: &[&str], dir: &Path) -> Result<Proc, DemoError> {
        let exe = std::env::current_exe().map_err(io("finding the cairn executable"))?;
        let log = std::fs::File::create(dir.join(format!("{name}.log")))
            .map_err(io(format!("creating {name}.log")))?;
        let mut child = Command::new(exe)
            .args(args)
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(io(format!("starting {name}")))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line);
            let _ = tx.send((read.map(|_| line), reader));
        });
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            DemoError::Child(format!(
                "{name} did not start ({why}); see {}",
                dir.join(format!("{name}.log")).display()
            ))
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok((Ok(line), reader)) if !line.trim().is_empty() => Ok(Proc {
                name: name.to_string(),
                child,
                _stdout: reader,
                line: line.trim().to_string(),
            }),
            Ok(_) => Err(fail(&mut child, "it exited".into())),
            Err(_) => Err(fail(&mut child, "no address printed in 60 s".into())),
        }
    }

    /// The first word of its line starting with `scheme://`.
    pub(super) fn url(&self, scheme: &str) -> Option<String> {
        self.line
            .split_whitespace()
            .map(|w| w.trim_end_matches([')', ',']))
            .find(|w| w.starts_with(&format!("{scheme}://")))
            .map(str::to_string)
    }

    /// Sends SIGTERM and waits up to 15 s, then kills.
    pub(super) fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        tracing::warn!(child = %self.name, "did not stop in 15 s; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A token cancelled on the first SIGINT (Ctrl-C) or SIGTERM (`kill`, `timeout`, systemd), so
/// that either stops everything the demo started instead of orphaning it.
pub(super) fn stop_signal() -> std::io::Result<CancellationToken> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        cancel.cancel();
        // A second signal while stopping means "now": the children's own SIGTERM handling
        // still runs, but the demo does not wait for them.
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("error: interrupted twice; exiting without waiting for the children");
        std::process::exit(130);
    });
    Ok(token)
}

/// The demo's secrets, random for every run.
pub(super) struct Tokens {
    /// The agents' token.
    pub(super) agent: String,
    /// The manager's API token.
    pub(super) api: String,
    /// The file holding `api` (mode 0600), given to the printed commands.
    pub(super) api_file: PathBuf,
}

/// A random token of 64 hex digits (244 random bits).
pub(super) fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The `Authorization: Bearer` header of the manager's API.
pub(super) fn bearer(token: &str) -> Result<reqwest::header::HeaderMap, DemoError> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| DemoError::Child(format!("the API token is not a header value: {e}")))?;
    value.set_sensitive(true);
    Ok([(reqwest::header::AUTHORIZATION, value)]
        .into_iter()
        .collect())
}

/// Writes `text` to `path`, readable by its owner only (mode 0600): the demo's files hold tokens.
pub(super) fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let what = format!("writing {}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(what.clone()))?;
    // A file that existed keeps its mode on open: tightened here.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io(what.clone()))?;
    file.write_all(text.as_bytes()).map_err(io(what))
}

/// Creates `dir` and its missing parents, the ones created readable by their owner only (0700).
pub(super) fn create_private_dir(dir: &Path) -> Result<(), DemoError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// A free TCP port on `address`.
pub(super) fn free_port(address: Ipv4Addr) -> Result<u16, DemoError> {
    TcpListener::bind((address, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io(format!("finding a free port on {address}")))
}

/// The agents of one emulated cluster, as [`start_agents`] starts them.
pub(super) struct Agents<'a> {
    /// The emulated cluster.
    pub(super) emulator: &'a Emulator,
    /// The demo's directory (configurations, state, logs).
    pub(super) dir: &'a Path,
    /// The bucket's directory (`localstorage:demo`).
    pub(super) bucket: &'a Path,
    /// The agents' token.
    pub(super) token: &'a str,
    /// The port every agent listens on (on its node's address).
    pub(super) port: u16,
    /// The agents' names: `<prefix><index>`, also naming their files.
    pub(super) prefix: &'a str,
}

/// Starts an agent per node of `a.emulator` into `children`; ends early with
/// [`DemoError::Interrupted`] once `stop` is cancelled.
pub(super) fn start_agents(
    a: Agents<'_>,
    children: &mut Vec<Proc>,
    stop: &CancellationToken,
) -> Result<(), DemoError> {
    for (i, node) in a.emulator.nodes().iter().enumerate() {
        let name = format!("{}{i}", a.prefix);
        let yaml = format!(
            "auth_token: {token}\nhttps: {addr}:{port}\nprometheus: \"\"\nscylla:\n  api_address: {addr}\n  api_port: {api}\n  prometheus_port: {prom}\nlocalstorage:\n  demo: {bucket}\nstate_directory: {state}\n",
            state = a.dir.join(format!("{name}-state")).display(),
            addr = node.address,
            port = a.port,
            api = a.emulator.api_port(),
            prom = a.emulator.prometheus_port(),
            bucket = a.bucket.display(),
            token = a.token,
        );
        let config = a.dir.join(format!("{name}.yaml"));
        write_private(&config, &yaml)?;
        let config = config.display().to_string();
        children.push(tokio::task::block_in_place(|| {
            Proc::start(&name, &["agent", "--config", &config], a.dir)
        })?);
        if stop.is_cancelled() {
            return Err(DemoError::Interrupted);
        }
    }
    Ok(())
}
