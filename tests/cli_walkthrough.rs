//! A new user's first session, from the README: `cairn demo --keep-running` started as a real
//! process, every command it prints run as printed, every data-printing client command run
//! against its manager as a table and as JSON (the two must tell the same facts), bad input
//! refused in one line with the documented exit status and nothing changed, then Ctrl-C (SIGINT)
//! stopping everything.
//!
//! SIGTERM, what `kill`, `timeout` and systemd send, stops everything as Ctrl-C does; a test of
//! its own checks that.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn::units::format_bytes;
use common::cli::{Run, cairn, cairn_as_given, cairn_with_env, cells};
use serde_json::{Value, json};

/// How long the demo may take to print the commands to try (two backups of a 4-node cluster on
/// a loaded 2-core machine; the demo itself allows each backup 300 s).
const READY_TIMEOUT: Duration = Duration::from_secs(660);
/// How long the demo may take to exit after a signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// The line above the commands the demo suggests.
const TRY_LINE: &str = "everything keeps running; try:";
/// The last line the demo prints before it waits.
const READY_LINE: &str = "Ctrl-C stops everything.";
/// The demo's backup location.
const LOCATION: &str = "localstorage:demo";
/// A URL where no manager runs.
const NO_MANAGER: &str = "http://127.0.0.1:1";
/// The widest line a table may have and still be read in a (wide) terminal.
const READABLE_WIDTH: usize = 200;

/// Every demo uses the same fixed node addresses: one at a time in this test binary.
static ONE_DEMO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `cairn demo --keep-running --dir TEMPDIR`, in a process group of its own; stopped with SIGINT
/// when dropped, and its whole group killed if that did not stop everything.
struct Demo {
    /// The demo process.
    child: Child,
    /// Its stdout so far, line by line.
    out: Arc<Mutex<Vec<String>>>,
    /// Its stderr so far.
    err: Arc<Mutex<String>>,
    /// Set once the test saw it stop with everything it started.
    stopped_cleanly: bool,
    /// Its directory (removed after it stopped).
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["demo", "--keep-running", "--dir"])
            // A directory the demo makes (as a user names a new one): it is made private.
            .arg(dir.path().join("demo"))
            .env_remove("CAIRN_LOG")
            .env_remove("CAIRN_URL")
            .env_remove("CAIRN_CLUSTER")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn demo starts");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("stdout");
        let sink = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let sink = err.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Demo {
            child,
            out,
            err,
            stopped_cleanly: false,
            _dir: dir,
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    /// Its stdout so far.
    fn stdout(&self) -> String {
        let lines = self.out.lock().unwrap();
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    /// Its stderr so far.
    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Waits (blocking) until it printed `line`; panics if it exits or takes too long.
    fn wait_for(&mut self, line: &str, timeout: Duration) {
        let began = Instant::now();
        loop {
            if self.out.lock().unwrap().iter().any(|l| l.trim() == line) {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the readers catch up with what it printed last.
                std::thread::sleep(Duration::from_millis(500));
                panic!(
                    "cairn demo exited ({status}) before printing {line:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                began.elapsed() < timeout,
                "cairn demo printed no {line:?} in {} s\nstdout:\n{}\nstderr:\n{}",
                timeout.as_secs(),
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` to the demo process alone (not its group).
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let r = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(r, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits (blocking) up to `timeout` for it to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let began = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if began.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The processes it started (agents and manager), by pid, with their command lines.
    fn children(&self) -> Vec<(libc::pid_t, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<libc::pid_t>().ok());
            if ppid == Some(self.pid()) {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                out.push((pid, cmdline.trim().to_string()));
            }
        }
        out
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: as in `signal`.
            unsafe {
                libc::kill(self.pid(), libc::SIGINT);
            }
            let _ = self.wait_exit(Duration::from_secs(60));
        }
        if !self.stopped_cleanly {
            // The demo, the agents and the manager it started share its process group (it is
            // the group's leader, so the group's id is its pid).
            // SAFETY: as in `signal`.
            unsafe {
                libc::kill(-self.pid(), libc::SIGKILL);
            }
            let _ = self.child.wait();
        }
    }
}

/// Whether a process is still there.
fn alive(pid: libc::pid_t) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The words after `prefix` on the first line of `text` that starts with it (after indentation).
fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

/// What every command a user runs should look like when it works: exit 0, something on stdout
/// ending with a newline, no terminal escapes (stdout is a pipe), nothing on stderr.
fn readable<'a>(run: &'a Run, what: &str) -> &'a str {
    let text = run.ok(what);
    assert!(!text.trim().is_empty(), "{what}: printed nothing");
    assert!(
        text.ends_with('\n'),
        "{what}: ends with a newline: {text:?}"
    );
    assert!(!text.contains('\x1b'), "{what}: no escapes off a terminal");
    assert_eq!(run.stderr, "", "{what}: nothing on stderr");
    text
}

/// A string field of a JSON document (empty when absent).
fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// A number field of a JSON document (0 when absent).
fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_default()
}

/// The value of a `Label:  value` line of a progress view.
fn view_value<'a>(view: &'a str, label: &str) -> &'a str {
    view.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{view}"))
}

/// The lines of a view from the first one `first` accepts up to an empty line, each split into
/// cells (columns are two or more spaces apart).
fn table_from(view: &str, first: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
    let rows: Vec<Vec<String>> = view
        .lines()
        .skip_while(|l| !first(l))
        .take_while(|l| !l.is_empty())
        .map(cells)
        .collect();
    assert!(!rows.is_empty(), "no such table in:\n{view}");
    rows
}

/// The per-host table of a progress view, its header first.
fn host_table(view: &str) -> Vec<Vec<String>> {
    table_from(view, |l| l.starts_with("HOST "))
}

/// The per-table table of `host` in a `progress --details` view, its header first.
fn details_table(view: &str, host: &str) -> Vec<Vec<String>> {
    let title = format!("Host: {host}");
    let mut rows = table_from(view, |l| l == title);
    rows.remove(0);
    rows
}

/// The cells a progress table shows for one level of the JSON progress: PROGRESS of a finished
/// run, SIZE, SUCCESS, DEDUPLICATED, FAILED.
fn counter_cells(v: &Value) -> [String; 5] {
    [
        "100%".to_string(),
        format_bytes(n(&v["size"])),
        format_bytes(n(&v["uploaded"]) + n(&v["skipped"])),
        format_bytes(n(&v["skipped"])),
        format_bytes(n(&v["failed"])),
    ]
}

/// A command line split into words as a shell would (single quotes group words; nothing else
/// is special).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => out.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(!quoted, "unbalanced quote in {line:?}");
    out.extend(word);
    out
}

/// The table headers of the client commands.
const CLUSTER_LIST: [&str; 5] = ["ID", "NAME", "HOSTS", "PORT", "CREATED"];
const CLUSTER_STATUS: [&str; 8] = [
    "ADDRESS",
    "DC",
    "RACK",
    "AGENT",
    "SCYLLA VERSION",
    "FREE DISK",
    "SNAPSHOTS",
    "CERT SHA-256",
];
const TASKS: [&str; 5] = ["TASK", "SCHEDULE", "NEXT RUN", "LAST STATUS", "ID"];
const BACKUP_LIST: [&str; 5] = ["TASK", "SNAPSHOT", "NODES", "SIZE", "KEYSPACES"];
const PROGRESS_HOSTS: [&str; 6] = [
    "HOST",
    "PROGRESS",
    "SIZE",
    "SUCCESS",
    "DEDUPLICATED",
    "FAILED",
];
const PROGRESS_TABLES: [&str; 9] = [
    "KEYSPACE",
    "TABLE",
    "PROGRESS",
    "SIZE",
    "SUCCESS",
    "DEDUPLICATED",
    "FAILED",
    "STARTED AT",
    "COMPLETED AT",
];

/// What the user learnt from the demo's printout, and the run they started.
struct Session {
    /// The manager's URL.
    url: String,
    /// The number of nodes the demo said it emulates.
    node_count: usize,
    /// The nodes' addresses, as the manager knows them.
    hosts: BTreeSet<String>,
    /// The bucket directory behind `localstorage:demo`.
    bucket: PathBuf,
    /// The snapshot tags of the demo's two backups.
    demo_tags: BTreeSet<String>,
    /// The run started with the printed `cairn start`.
    run_id: Option<String>,
    /// The manager's API token, from the file the printed commands name.
    api_token: String,
}

impl Session {
    /// Runs `cairn --url URL COMMAND` (COMMAND split as a shell would).
    async fn cairn(&self, command: &str) -> Run {
        let words = words(command);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        cairn_with_env(&self.url, &args, &[("CAIRN_API_TOKEN", &self.api_token)]).await
    }

    /// `cairn --url URL COMMAND -o json`, parsed.
    async fn json(&self, command: &str) -> Value {
        self.cairn(&format!("{command} -o json"))
            .await
            .json(&format!("cairn {command} -o json"))
    }

    /// What bad input must leave unchanged: the cluster's tasks and the backups in the location.
    async fn state(&self) -> (Value, Value) {
        (
            self.json("tasks -c demo --all").await,
            self.json("backup list -c demo").await,
        )
    }
}

/// The snapshots of a `backup list -o json` document as `TAG N nodes SIZE`.
fn snapshots(doc: &Value) -> BTreeSet<String> {
    doc["backups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["snapshot_info"].as_array().cloned().unwrap_or_default())
        .map(|snap| {
            format!(
                "{} {} nodes {}",
                s(&snap["snapshot_tag"]),
                snap["nodes"],
                format_bytes(n(&snap["size"]))
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn walkthrough() {
    let _one = ONE_DEMO.lock().await;
    let began = Instant::now();

    // 1. The demo runs its two backups and prints the commands to try, with the URL to use.
    let mut demo = Demo::start();
    tokio::task::block_in_place(|| demo.wait_for(READY_LINE, READY_TIMEOUT));
    let out = demo.stdout();
    eprintln!(
        "cairn demo ready after {:.1}s:\n{out}",
        began.elapsed().as_secs_f64()
    );
    let mut session = what_the_demo_said(&out).await;

    // 2. Every command it printed, then every data-printing command as a table and as JSON.
    the_printed_commands_work(&mut session, &out).await;
    cluster_list_and_status(&session).await;
    tasks_and_progress(&session).await;
    backup_list_and_files(&session).await;
    dry_run(&session).await;

    // 3. Bad input and a manager that is not running.
    bad_input_is_refused_in_one_line(&session).await;

    // 4. Ctrl-C: the demo stops what it started and exits 0.
    let children = demo.children();
    assert_eq!(
        children.len(),
        2 * session.node_count + 1,
        "an agent per node of the demo's cluster and of the fresh one it restores into, and a manager: {children:?}"
    );
    demo.signal(libc::SIGINT);
    let status = tokio::task::block_in_place(|| demo.wait_exit(STOP_TIMEOUT));
    let status = status.unwrap_or_else(|| {
        panic!(
            "cairn demo still running {} s after SIGINT\nstdout:\n{}",
            STOP_TIMEOUT.as_secs(),
            demo.stdout()
        )
    });
    // Let the readers catch up with its last lines.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status.code(),
        Some(0),
        "exit 0 after Ctrl-C: {status}\nstderr:\n{}",
        demo.stderr()
    );
    let out = demo.stdout();
    assert!(out.contains("stopped the agents and the manager"), "{out}");
    let left: Vec<_> = children.iter().filter(|(pid, _)| alive(*pid)).collect();
    assert!(left.is_empty(), "still running after the demo: {left:?}");
    demo.stopped_cleanly = true;
    let gone = session.cairn("cluster list").await;
    assert_eq!(gone.code, 3, "the manager is gone: {}", gone.stderr);
    eprintln!("walkthrough took {:.1}s", began.elapsed().as_secs_f64());
}

/// The manager's URL, the nodes, the bucket and the two backups from the demo's printout; what it
/// says it did is what the CLI shows.
async fn what_the_demo_said(out: &str) -> Session {
    let url = line_after(out, "manager:")
        .split_whitespace()
        .next()
        .expect("the manager's URL")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let node_count: usize = line_after(out, "emulated cluster:")
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("the node count");
    assert_eq!(node_count, 4, "the README's 2-DC, 4-node demo:\n{out}");
    let demo_tags: BTreeSet<String> = [1, 2]
        .iter()
        .map(|i| {
            // `backup 1: sm_...  36.0 MiB uploaded, ...` in the summary.
            let tag = line_after(out, &format!("backup {i}: sm_"));
            format!("sm_{}", tag.split_whitespace().next().unwrap())
        })
        .collect();
    assert_eq!(demo_tags.len(), 2, "two backups: {demo_tags:?}");
    // The printed commands carry the API token's file; the demo keeps its secrets private.
    let token_file = PathBuf::from(
        line_after(out, "cairn --url")
            .split_whitespace()
            .skip_while(|w| *w != "--api-token-file")
            .nth(1)
            .expect("the printed commands name --api-token-file"),
    );
    let api_token = std::fs::read_to_string(&token_file)
        .expect("the API token file")
        .trim()
        .to_string();
    assert!(api_token.len() >= 32, "a long random API token");
    let demo_dir = PathBuf::from(line_after(out, "directory:"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&demo_dir), 0o700, "the demo's directory");
        for file in ["manager.yaml", "agent0.yaml", "api-token", "cairn.db"] {
            assert_eq!(mode(&demo_dir.join(file)), 0o600, "{file}");
        }
        let agent = std::fs::read_to_string(demo_dir.join("agent0.yaml")).unwrap();
        assert!(
            !agent.contains("cairn-demo-token"),
            "a random agent token, not a fixed one"
        );
    }
    let mut session = Session {
        api_token,
        url,
        node_count,
        hosts: BTreeSet::new(),
        bucket: PathBuf::from(line_after(out, "bucket:")),
        demo_tags,
        run_id: None,
    };

    // `backups in localstorage:demo:`, then `  TAG  N nodes  SIZE` per snapshot.
    let printed: BTreeSet<String> = out
        .lines()
        .skip_while(|l| *l != format!("backups in {LOCATION}:"))
        .skip(1)
        .take_while(|l| l.starts_with("  sm_"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let listed = snapshots(&session.json("backup list -c demo").await);
    assert_eq!(printed, listed, "the demo's list of backups and the CLI's");
    let tags: BTreeSet<String> = listed
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(tags, session.demo_tags, "the two backups of the summary");

    let clusters = session.json("cluster list").await;
    session.hosts = clusters[0]["hosts"]
        .as_array()
        .expect("the demo cluster's hosts")
        .iter()
        .map(s)
        .collect();
    assert_eq!(session.hosts.len(), node_count, "{clusters:#}");
    session
}

/// Runs every command the demo printed exactly as printed (this build's binary for `cairn`):
/// each works and prints what it should.
async fn the_printed_commands_work(session: &mut Session, out: &str) {
    let commands: Vec<&str> = out
        .lines()
        .skip_while(|l| l.trim() != TRY_LINE)
        .skip(1)
        .take_while(|l| l.trim() != READY_LINE)
        .map(str::trim)
        .filter(|l| l.starts_with("cairn "))
        .collect();
    let kinds: BTreeSet<String> = commands
        .iter()
        .map(|l| {
            let w = words(l);
            // `cairn --url URL --api-token-file FILE COMMAND`, or `cairn COMMAND --offline`.
            let from = if w.iter().any(|x| x == "--offline") {
                1
            } else {
                5
            };
            w[from..]
                .iter()
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(
            [
                "cluster status",
                "tasks -c",
                "start -c",
                "progress -c",
                "backup list",
                "backup files"
            ]
            .map(String::from)
        ),
        "the commands to try:\n{out}"
    );
    assert_eq!(
        commands.len(),
        7,
        "two backup lists, one of them offline:\n{out}"
    );
    assert!(commands.iter().any(|l| l.contains("--offline")), "{out}");
    for line in commands {
        let words = words(line);
        // Client commands name the demo's manager; the offline one needs none.
        let offline = words.iter().any(|w| w == "--offline");
        let args_from = if offline {
            1
        } else {
            assert_eq!(words[1..3], ["--url", session.url.as_str()], "{line}");
            assert_eq!(words[3], "--api-token-file", "{line}");
            5
        };
        let run = cairn_as_given(&words[1..]).await;
        let text = readable(&run, line);
        let args: Vec<&str> = words[args_from..].iter().map(String::as_str).collect();
        match args.as_slice() {
            ["backup", "list", "--offline", ..] => {
                let rows = run.table(line, &BACKUP_LIST);
                let tags: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
                assert!(tags.is_superset(&session.demo_tags), "{text}");
                for r in &rows {
                    assert_eq!(r[2], session.node_count.to_string(), "{r:?}");
                }
            }
            ["backup", "files", ..] => {
                let mut data = 0;
                for l in text.lines() {
                    let (file, table) = l.split_once("  ").expect("LOCATION/PATH  TABLE");
                    let rel = file
                        .strip_prefix(&format!("{LOCATION}/"))
                        .unwrap_or_else(|| panic!("in {LOCATION}: {l}"));
                    assert!(session.bucket.join(rel).is_file(), "{rel} is in the bucket");
                    assert!(
                        table == "schema" || table == "store/orders",
                        "-K store.orders: {l}"
                    );
                    data += usize::from(table == "store/orders");
                }
                assert!(data > 0, "store.orders files:\n{text}");
            }
            ["cluster", "status", ..] => {
                let rows = run.table(line, &CLUSTER_STATUS);
                let shown: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
                assert_eq!(shown, session.hosts, "every node:\n{text}");
                for r in &rows {
                    assert_eq!(r.len(), CLUSTER_STATUS.len(), "{line}: {r:?}");
                    assert!(r[3].starts_with("UP"), "agent up: {r:?}");
                }
            }
            ["tasks", ..] => {
                let rows = run.table(line, &TASKS);
                // The demo's backup task, and the validate task it ran after the second backup.
                assert_eq!(rows.len(), 2, "{text}");
                let row = |name: &str| {
                    rows.iter()
                        .find(|r| r[0] == name)
                        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
                };
                assert_eq!(
                    row("backup/demo")[..4],
                    ["backup/demo", "once", "disabled", "DONE (2 ok, 0 failed)"],
                    "{text}"
                );
                assert_eq!(
                    row("validate_backup/demo")[..4],
                    [
                        "validate_backup/demo",
                        "once",
                        "disabled",
                        "DONE (1 ok, 0 failed)"
                    ],
                    "{text}"
                );
                for r in &rows {
                    assert!(r[4].parse::<uuid::Uuid>().is_ok(), "the task's ID: {text}");
                }
            }
            ["start", ..] => {
                let id = text.trim();
                assert!(id.parse::<uuid::Uuid>().is_ok(), "a run id: {text:?}");
                session.run_id = Some(id.to_string());
            }
            ["progress", ..] => {
                let view = &text[text.find("Run:").expect("the final view")..];
                if let Some(id) = &session.run_id {
                    assert_eq!(view_value(view, "Run"), id, "the run just started");
                }
                assert_eq!(view_value(view, "Status"), "DONE", "{view}");
                assert_eq!(view_value(view, "Progress"), "100%", "{view}");
                let table = host_table(view);
                assert_eq!(table[0], PROGRESS_HOSTS, "{view}");
                assert_eq!(table.len(), 1 + session.node_count, "{view}");
            }
            ["backup", "list", ..] => {
                let rows = run.table(line, &BACKUP_LIST);
                let tags: BTreeSet<String> = rows.iter().map(|r| r[1].clone()).collect();
                assert!(tags.is_superset(&session.demo_tags), "{text}");
                let expected = session.demo_tags.len() + usize::from(session.run_id.is_some());
                assert_eq!(
                    rows.len(),
                    expected,
                    "the demo's and the one started:\n{text}"
                );
            }
            _ => eprintln!("(no specific check of the printed command {line})"),
        }
    }
}

/// `cairn cluster list` and `cairn cluster status`, as tables and as JSON.
async fn cluster_list_and_status(session: &Session) {
    let run = session.cairn("cluster list").await;
    readable(&run, "cluster list");
    let rows = run.table("cluster list", &CLUSTER_LIST);
    let doc = session.json("cluster list").await;
    // The demo's cluster, and the fresh one it restores into.
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    assert_eq!(doc.as_array().map(Vec::len), Some(2), "{doc:#}");
    let created: chrono::DateTime<chrono::Utc> =
        s(&doc[0]["created_at"]).parse().expect("created_at");
    let hosts: Vec<String> = doc[0]["hosts"].as_array().unwrap().iter().map(s).collect();
    assert_eq!(
        rows[0],
        [
            s(&doc[0]["id"]),
            s(&doc[0]["name"]),
            hosts.join(","),
            doc[0]["port"].to_string(),
            created.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ],
        "table and JSON of cluster list"
    );
    assert_eq!(rows[0][1], "demo");
    assert_eq!(rows[1][1], "fresh");

    let run = session.cairn("cluster status -c demo").await;
    readable(&run, "cluster status");
    let rows = run.table("cluster status", &CLUSTER_STATUS);
    let doc = session.json("cluster status -c demo").await;
    let nodes = doc["nodes"].as_array().expect("nodes");
    assert_eq!(rows.len(), session.node_count, "{}", run.stdout);
    assert_eq!(nodes.len(), session.node_count, "{doc:#}");
    let mut per_dc = BTreeMap::<String, usize>::new();
    for r in &rows {
        let node = nodes
            .iter()
            .find(|n| n["address"] == json!(r[0]))
            .unwrap_or_else(|| panic!("{} in the JSON: {doc:#}", r[0]));
        assert_eq!(r[1], s(&node["dc"]), "{r:?}");
        assert_eq!(r[2], s(&node["rack"]), "{r:?}");
        assert!(r[3].starts_with("UP"), "{r:?}");
        assert_eq!(node["agent_ok"], json!(true), "{node}");
        assert_eq!(r[4], s(&node["scylla_version"]), "{r:?}");
        // Free disk changes between two calls; both give it.
        assert!(r[5].ends_with('B') && node["disk_free"].is_u64(), "{r:?}");
        *per_dc.entry(r[1].clone()).or_default() += 1;
    }
    assert_eq!(
        per_dc,
        BTreeMap::from([("dc1".to_string(), 2), ("dc2".to_string(), 2)]),
        "dc1:2,dc2:2"
    );
}

/// `cairn tasks` and `cairn progress` (with and without `--details`), as tables and as JSON.
async fn tasks_and_progress(session: &Session) {
    let run = session.cairn("tasks -c demo --all").await;
    readable(&run, "tasks --all");
    let all_rows = run.table("tasks --all", &TASKS);
    let tasks = session.json("tasks -c demo --all").await;
    // The demo's backup task and its validate task.
    assert_eq!(tasks.as_array().map(Vec::len), Some(2), "{tasks:#}");
    assert_eq!(all_rows.len(), 2, "{all_rows:?}");
    let task = tasks
        .as_array()
        .and_then(|t| t.iter().find(|t| t["type"] == "backup"))
        .unwrap_or_else(|| panic!("the backup task: {tasks:#}"));
    let rows: Vec<Vec<String>> = all_rows
        .iter()
        .filter(|r| r[0] == "backup/demo")
        .cloned()
        .collect();
    assert_eq!(task["enabled"], json!(false), "{task:#}");
    assert!(task["schedule"]["cron"].is_null(), "{task:#}");
    assert_eq!(task["schedule"]["interval_seconds"], json!(0), "{task:#}");
    assert_eq!(
        rows,
        [[
            format!("{}/{}", s(&task["type"]), s(&task["name"])),
            "once".to_string(),
            "disabled".to_string(),
            format!(
                "{} ({} ok, {} failed)",
                s(&task["status"]),
                task["success_count"],
                task["error_count"]
            ),
            s(&task["id"]),
        ]],
        "table and JSON of tasks"
    );
    let runs = session.demo_tags.len() + usize::from(session.run_id.is_some());
    assert_eq!(rows[0][0], "backup/demo");
    assert_eq!(rows[0][3], format!("DONE ({runs} ok, 0 failed)"));

    let run = session.cairn("progress -c demo backup/demo").await;
    let view = readable(&run, "progress");
    let doc = session.json("progress -c demo backup/demo").await;
    let progress = &doc["progress"];
    assert_eq!(view_value(view, "Run"), s(&doc["run"]["id"]));
    if let Some(id) = &session.run_id {
        assert_eq!(view_value(view, "Run"), id, "the latest run");
    }
    assert_eq!(view_value(view, "Status"), s(&doc["status_text"]));
    assert_eq!(view_value(view, "Status"), "DONE");
    assert_eq!(view_value(view, "Progress"), "100%");
    assert_eq!(
        view_value(view, "Snapshot Tag"),
        s(&progress["snapshot_tag"])
    );
    let dcs: Vec<String> = progress["dcs"].as_array().unwrap().iter().map(s).collect();
    assert_eq!(view_value(view, "Datacenters"), dcs.join(", "));
    assert!(view_value(view, "End time").ends_with("UTC"), "{view}");
    let table = host_table(view);
    assert_eq!(table[0], PROGRESS_HOSTS);
    let hosts = progress["hosts"].as_array().expect("hosts");
    assert_eq!(table.len() - 1, hosts.len(), "{view}");
    assert_eq!(hosts.len(), session.node_count, "{view}");
    for h in hosts {
        let row = table
            .iter()
            .find(|r| r[0] == s(&h["host"]))
            .unwrap_or_else(|| panic!("{} in:\n{view}", h["host"]));
        assert_eq!(
            row[1..],
            counter_cells(h),
            "table and JSON of {}",
            h["host"]
        );
    }
    assert!(!view.contains("KEYSPACE"), "no details unless asked");

    let run = session
        .cairn("progress -c demo backup/demo --details")
        .await;
    let view = readable(&run, "progress --details");
    let doc = session.json("progress -c demo backup/demo --details").await;
    for h in doc["progress"]["hosts"].as_array().unwrap() {
        let rows = details_table(view, &s(&h["host"]));
        assert_eq!(rows[0], PROGRESS_TABLES, "{view}");
        let mut expected = Vec::new();
        for k in h["keyspaces"].as_array().unwrap() {
            for t in k["tables"].as_array().unwrap() {
                let mut row = vec![s(&k["keyspace"]), s(&t["table"])];
                row.extend(counter_cells(t));
                expected.push(row);
            }
        }
        let shown: Vec<Vec<String>> = rows[1..].iter().map(|r| r[..7].to_vec()).collect();
        assert_eq!(shown, expected, "table and JSON of {}:\n{view}", h["host"]);
        assert!(
            shown.iter().any(|r| r[..2] == ["store", "orders"]),
            "{view}"
        );
        for r in &rows[1..] {
            assert!(r[7].ends_with("UTC") && r[8].ends_with("UTC"), "{r:?}");
        }
    }
}

/// `cairn backup list --show-tables` and `cairn backup files -T TAG`, as tables and as JSON.
async fn backup_list_and_files(session: &Session) {
    let run = session.cairn("backup list -c demo --show-tables").await;
    let text = readable(&run, "backup list --show-tables").to_string();
    let rows = run.table("backup list --show-tables", &BACKUP_LIST);
    let doc = session.json("backup list -c demo --show-tables").await;
    let entries = doc["backups"].as_array().expect("a list");
    assert_eq!(entries.len(), 1, "one task's backups: {doc:#}");
    assert_eq!(
        doc["skipped"],
        serde_json::json!([]),
        "nothing skipped: {doc:#}"
    );
    let entry = &entries[0];
    let tasks = session.json("tasks -c demo --all").await;
    assert_eq!(entry["task_id"], tasks[0]["id"], "the demo task's");
    let keyspaces = |tables: bool| -> String {
        entry["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                let t = u["tables"].as_array().unwrap();
                if tables {
                    let names: Vec<String> = t.iter().map(s).collect();
                    format!("{}({})", s(&u["keyspace"]), names.join(","))
                } else {
                    format!("{}({})", s(&u["keyspace"]), t.len())
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // A row per snapshot, then its keyspaces' tables a keyspace per line (long ones wrapped at
    // commas) under it: the lines' cells, spaces dropped, spell the JSON's units.
    let mut snapshots_shown: Vec<(Vec<String>, String)> = Vec::new();
    for r in &rows {
        match r.len() {
            5 => snapshots_shown.push((r[..4].to_vec(), r[4].clone())),
            1 => snapshots_shown.last_mut().expect("a snapshot row first").1 += &r[0],
            _ => panic!("a snapshot row or a keyspace line: {r:?}\n{text}"),
        }
    }
    let expected: Vec<(Vec<String>, String)> = entry["snapshot_info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|snap| {
            let cells = vec![
                "backup/demo".to_string(),
                s(&snap["snapshot_tag"]),
                snap["nodes"].to_string(),
                format_bytes(n(&snap["size"])),
            ];
            (cells, keyspaces(true).replace(' ', ""))
        })
        .collect();
    assert_eq!(
        snapshots_shown, expected,
        "table and JSON of backup list --show-tables"
    );
    let runs = session.demo_tags.len() + usize::from(session.run_id.is_some());
    assert_eq!(snapshots_shown.len(), runs, "every backup so far:\n{text}");
    let nodes = session.node_count.to_string();
    assert!(snapshots_shown.iter().all(|(r, _)| r[2] == nodes), "{text}");
    // The dataset's view and index view follow `orders` unless the backup could list views
    // over CQL and left them out.
    assert!(
        keyspaces(true).contains("store(customers,order_items,orders"),
        "{}",
        keyspaces(true)
    );
    let plain = session.cairn("backup list -c demo").await;
    let plain_rows = plain.table("backup list", &BACKUP_LIST);
    let cells: Vec<&String> = plain_rows.iter().map(|r| &r[4]).collect();
    assert!(cells.iter().all(|c| **c == keyspaces(false)), "{cells:?}");
    // Readable in a terminal: no line of every table of every keyspace.
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(
        widest <= READABLE_WIDTH,
        "lines of up to {widest} characters:\n{text}"
    );

    // The files of the newest snapshot, each in the bucket.
    let tag = &snapshots_shown[0].0[1];
    let run = session
        .cairn(&format!("backup files -c demo -T {tag}"))
        .await;
    let text = readable(&run, "backup files");
    let doc = session
        .json(&format!("backup files -c demo -T {tag}"))
        .await;
    let manifests = doc["files"].as_array().expect("a manifest per node");
    assert_eq!(manifests.len(), session.node_count, "a manifest per node");
    let mut expected = BTreeSet::new();
    for m in manifests {
        assert_eq!(m["location"], json!(LOCATION), "{m}");
        if !s(&m["schema"]).is_empty() {
            expected.insert(format!("{LOCATION}/{}  schema", s(&m["schema"])));
        }
        for t in m["files"].as_array().unwrap() {
            for f in t["files"].as_array().unwrap() {
                expected.insert(format!(
                    "{LOCATION}/{}/{}  {}/{}",
                    s(&t["path"]),
                    s(f),
                    s(&t["keyspace"]),
                    s(&t["table"])
                ));
            }
        }
    }
    // The demo's cluster has CQL credentials: every snapshot carries its schema file, listed once.
    assert_eq!(
        expected.iter().filter(|l| l.ends_with("  schema")).count(),
        1,
        "one schema file: {expected:?}"
    );
    let shown: BTreeSet<String> = text.lines().map(str::to_string).collect();
    assert_eq!(shown.len(), text.lines().count(), "no line twice");
    assert_eq!(shown, expected, "lines and JSON of backup files");
    let mut orders = 0;
    for line in &shown {
        let (file, table) = line.split_once("  ").expect("LOCATION/PATH  TABLE");
        let rel = file
            .strip_prefix(&format!("{LOCATION}/"))
            .unwrap_or_else(|| panic!("in {LOCATION}: {line}"));
        assert!(
            session.bucket.join(rel).is_file(),
            "{rel} is in {}",
            session.bucket.display()
        );
        orders += usize::from(table == "store/orders");
    }
    assert!(orders > 0, "store.orders files listed");
}

/// `cairn backup --dry-run --show-tables`, as text and as JSON; it creates nothing.
async fn dry_run(session: &Session) {
    let before = session.state().await;
    let command = "backup -c demo -L localstorage:demo --dry-run --show-tables";
    let run = session.cairn(command).await;
    let text = readable(&run, command);
    let doc = session.json(command).await;
    assert!(text.starts_with("Data Centers:\n"), "{text}");
    let mut hosts = BTreeSet::new();
    for dc in doc["dcs"].as_array().expect("dcs") {
        let dc_hosts: Vec<String> = dc["hosts"].as_array().unwrap().iter().map(s).collect();
        hosts.extend(dc_hosts.iter().cloned());
        for line in [
            format!("  - {}: {}", s(&dc["name"]), dc_hosts.join(", ")),
            format!("  - {}: {}", s(&dc["name"]), s(&dc["location"])),
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
        }
    }
    assert_eq!(hosts, session.hosts, "every node in the target");
    for u in doc["units"].as_array().expect("units") {
        let tables: Vec<String> = u["tables"].as_array().unwrap().iter().map(s).collect();
        let all = if u["all_tables"] == json!(true) {
            " all"
        } else {
            ""
        };
        let plural = if tables.len() == 1 { "" } else { "s" };
        let line = format!(
            "  - {}{all} ({} table{plural}): {}",
            s(&u["keyspace"]),
            tables.len(),
            tables.join(", ")
        );
        assert!(text.lines().any(|l| l == line), "{line:?} in:\n{text}");
    }
    // The dataset's view and index view are left out: store is no longer backed up whole.
    assert!(text.contains("  - store (3 tables): customers, order_items, orders"));
    assert_eq!(
        line_after(text, "Disk size:"),
        format!("~{}", format_bytes(n(&doc["size"])))
    );
    let retention = format!("Retention Policy:\n  - Last {} backups", doc["retention"]);
    assert!(text.contains(&retention), "{text}");
    assert_eq!(session.state().await, before, "the dry run changed nothing");
}

/// Bad input: one line on stderr naming what was wrong, the documented exit status, nothing
/// changed; the same for a manager that is not running.
async fn bad_input_is_refused_in_one_line(session: &Session) {
    // (command, exit status, what the line must name)
    let cases: &[(&str, i32, &[&str])] = &[
        ("cluster status -c nosuch", 4, &["nosuch"]),
        ("tasks -c nosuch --all", 4, &["nosuch"]),
        ("backup list -c nosuch", 4, &["nosuch"]),
        ("backup -c nosuch -L localstorage:demo", 4, &["nosuch"]),
        (
            "backup -c nosuch -L localstorage:demo --dry-run",
            4,
            &["nosuch"],
        ),
        ("start -c nosuch backup/demo", 4, &["nosuch"]),
        ("progress -c nosuch backup/demo", 4, &["nosuch"]),
        (
            "backup files -c nosuch -T sm_20000101000000UTC",
            4,
            &["nosuch"],
        ),
        (
            "backup delete -c nosuch -T sm_20000101000000UTC",
            4,
            &["nosuch"],
        ),
        ("backup -c demo -L nowhere", 1, &["location", "nowhere"]),
        (
            "backup -c demo -L nowhere --dry-run",
            1,
            &["location", "nowhere"],
        ),
        (
            "backup -c demo -L s3:",
            1,
            &["location", "\"s3:\"", "bucket"],
        ),
        (
            "backup -c demo -L s3: --dry-run",
            1,
            &["location", "\"s3:\"", "bucket"],
        ),
        (
            "backup -c demo -L localstorage:demo -K 'ks.['",
            1,
            &["keyspace", "ks.["],
        ),
        (
            "backup -c demo -L localstorage:demo -K 'ks.[' --dry-run",
            1,
            &["keyspace", "ks.["],
        ),
        (
            "backup -c demo -L localstorage:demo --cron '61 * * * *'",
            1,
            &["cron", "61 * * * *"],
        ),
        (
            "backup -c demo -L localstorage:demo --retention -1",
            1,
            &["retention", "-1"],
        ),
        ("start -c demo backup/nosuch", 4, &["backup/nosuch"]),
        ("progress -c demo backup/nosuch", 4, &["backup/nosuch"]),
        (
            "backup files -c demo -T sm_20000101000000UTC",
            4,
            &["sm_20000101000000UTC"],
        ),
        (
            "backup delete -c demo -T sm_20000101000000UTC",
            4,
            &["sm_20000101000000UTC"],
        ),
    ];
    let before = session.state().await;
    for (command, code, named) in cases {
        let run = session.cairn(command).await;
        let what = format!("cairn {command}");
        let line = run.one_line_error(&what);
        eprintln!("{what}\n  -> exit {}: {line}", run.code);
        assert_eq!(run.code, *code, "{what}: exit status of {line}");
        for word in *named {
            assert!(line.contains(word), "{what}: {word:?} named in {line}");
        }
    }

    // An out-of-range cron field is named with its range.
    let command = "backup -c demo -L localstorage:demo --cron '61 * * * *'";
    let run = session.cairn(command).await;
    let line = run.one_line_error(command).to_string();
    assert!(
        line.contains("minute 61 is not in 0-59"),
        "{command}: {line}"
    );
    assert_eq!(run.code, 1, "{command}: {line}");

    // A usage error (clap's) is one line too, exit 2.
    for command in [
        "backup -c demo -L localstorage:demo --retention abc",
        "tasks",
    ] {
        let run = session.cairn(command).await;
        let line = run.one_line_error(command).to_string();
        assert_eq!(run.code, 2, "{command}: a usage error: {line}");
    }
    assert_eq!(session.state().await, before, "bad input changed nothing");

    // A manager that is not running.
    for command in [
        "cluster list",
        "cluster status -c demo",
        "tasks -c demo",
        "start -c demo backup/demo",
        "progress -c demo backup/demo",
        "backup list -c demo",
        "backup -c demo -L localstorage:demo --dry-run",
    ] {
        let what = format!("cairn --url {NO_MANAGER} {command}");
        let args = words(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = cairn(NO_MANAGER, &args).await;
        let line = run.one_line_error(&what);
        assert_eq!(
            line,
            format!(
                "error: cannot reach the cairn manager at {NO_MANAGER} (is it running? set --url or CAIRN_URL)"
            ),
            "{what}"
        );
        assert_eq!(run.code, 3, "{what}");
    }
    assert_eq!(session.state().await, before, "nothing changed");
}

/// SIGTERM (what `kill`, `timeout`, systemd and most supervisors send) stops the demo and
/// everything it started, as Ctrl-C does, and it exits 0.
#[test]
fn sigterm_stops_the_demo_and_everything_it_started() {
    let _one = ONE_DEMO.blocking_lock();
    let mut demo = Demo::start();
    demo.wait_for(READY_LINE, READY_TIMEOUT);
    let children = demo.children();
    assert_eq!(
        children.len(),
        9,
        "4 agents of the demo's cluster, 4 of the fresh one it restores into, and a manager: {children:?}"
    );
    demo.signal(libc::SIGTERM);
    let status = demo.wait_exit(STOP_TIMEOUT);
    // Give what it started the time to stop, if it was told to.
    std::thread::sleep(Duration::from_secs(5));
    let left: Vec<_> = children.iter().filter(|(pid, _)| alive(*pid)).collect();
    // (What is left is killed with the demo's process group when `demo` is dropped.)
    assert!(
        left.is_empty(),
        "after SIGTERM to cairn demo (which ended: {status:?}), still running: {left:?}"
    );
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "cairn demo exits 0 after SIGTERM"
    );
    demo.stopped_cleanly = true;
}
