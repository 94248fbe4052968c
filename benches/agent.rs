//! Agent throughput benchmark: the agent uploading a snapshot directory to a local S3 server,
//! side by side with `rclone copy` (the upstream agent's transfer engine) on the same files, the
//! same server and the same parallelism; the agent's peak RSS; and the measured rate under
//! bandwidth budgets; then the agent's download job against `rclone copy` from the same server to
//! local disk, with the agent's peak RSS while downloading; then the agent's check job (validate's
//! digest check) against `rclone md5sum --download` of the same objects. Run with `scripts/bench` (which installs the S3 server and rclone).
//!
//! Figures are from one run and meant as ratios: absolute times on shared 2-core machines drift.
//! Client and server share the cores, so each side's CPU time is reported beside the ratio.
//!
//! Environment: `CAIRN_TOOLS` (tools cache), `CAIRN_BENCH_TRANSFERS` (default 8),
//! `CAIRN_BENCH_SCALE` (a divisor for quick runs, default 1), `CAIRN_BENCH_ONLY` (`large`,
//! `small`: that upload set alone; `download`: the downloads alone; `check`: the content check
//! alone).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

mod common;

use common::*;

/// CPU seconds of all waited-for children of this process.
fn children_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a properly sized out-parameter.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

/// Writes `count` files of `size` pseudo-random bytes into `dir`.
fn make_files(dir: &Path, count: usize, size: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ size as u64;
    let mut buf = vec![0u8; size.min(1 << 20)];
    for i in 0..count {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(dir.join(format!("me-{i}-big-Data.db"))).unwrap(),
        );
        let mut left = size;
        while left > 0 {
            for chunk in buf.chunks_mut(8) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let b = state.to_le_bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
            let n = left.min(buf.len());
            f.write_all(&buf[..n]).unwrap();
            left -= n;
        }
    }
}

/// Hard-links every file of `src` into a fresh `dst` (the agent's move deletes only the links).
fn link_all(src: &Path, dst: &Path) {
    let _ = std::fs::remove_dir_all(dst);
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::hard_link(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

struct Agent {
    proc: Proc,
    url: String,
    http: Http,
}

fn start_agent(work: &Path, data: &Path, endpoint: &str, rate: u64) -> Agent {
    let config = work.join(format!("agent-{rate}.yaml"));
    std::fs::write(
        &config,
        format!(
            "auth_token: {TOKEN}\nhttps: 127.0.0.1:0\ndata_directory: {}\ntransfer:\n  rate_limit: {rate}\n{}s3:\n  endpoint: {endpoint}\n  access_key_id: {ACCESS}\n  secret_access_key: {SECRET}\n",
            data.display(),
            std::env::var("CAIRN_BENCH_TRANSFER_YAML").unwrap_or_default()
        ),
    )
    .unwrap();
    let (proc, line) = spawn_first_line(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["agent", "--config"])
            .arg(&config)
            .env(
                "CAIRN_LOG",
                std::env::var("CAIRN_BENCH_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        "cairn agent",
    );
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .expect("agent address")
        .to_string();
    Agent {
        proc,
        url,
        http: Http::new(Some(TOKEN)),
    }
}

impl Agent {
    /// Uploads `src` (through hard links in the data dir) and returns (seconds, bytes, job).
    fn upload(&self, data: &Path, src: &Path, name: &str, transfers: u64) -> (f64, u64, Value) {
        let rel =
            format!("ks/{name}-00000000000000000000000000000000/snapshots/sm_20260101000000UTC");
        link_all(src, &data.join(&rel));
        let bytes = dir_bytes(src);
        let started = Instant::now();
        let body = json!({"source_dir": rel, "location": format!("s3:{BUCKET}"), "remote_dir": format!("agent/{name}"), "tag": "sm_20260101000000UTC", "transfers": transfers});
        let v = self.http.call(
            reqwest::Method::POST,
            &format!("{}/agent/jobs/upload", self.url),
            Some(body),
        );
        let id = v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("job refused: {v}"))
            .to_string();
        loop {
            let p = self.http.call(
                reqwest::Method::GET,
                &format!("{}/agent/jobs/{id}?wait=5", self.url),
                None,
            );
            if p["status"] != "running" {
                assert_eq!(p["status"], "success", "{p}");
                return (started.elapsed().as_secs_f64(), bytes, p);
            }
        }
    }
}

impl Agent {
    /// Downloads `files` (paths in the bucket) into `dest` (relative to the data dir) with a
    /// download job; returns (seconds, job).
    fn download(&self, files: &[String], dest: &str, transfers: u64) -> (f64, Value) {
        let started = Instant::now();
        let body = json!({"location": format!("s3:{BUCKET}"), "files": files, "dest_dir": dest, "transfers": transfers});
        let v = self.http.call(
            reqwest::Method::POST,
            &format!("{}/agent/jobs/download", self.url),
            Some(body),
        );
        let id = v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("job refused: {v}"))
            .to_string();
        loop {
            let p = self.http.call(
                reqwest::Method::GET,
                &format!("{}/agent/jobs/{id}?wait=5", self.url),
                None,
            );
            if p["status"] != "running" {
                assert_eq!(p["status"], "success", "{p}");
                return (started.elapsed().as_secs_f64(), p);
            }
        }
    }
}

/// The agent's download job against `rclone copy` from the same server to local disk, for each
/// set: both read the same objects (put there by rclone first), with the same transfers, each
/// from a fresh server process; the agent is fresh too, so its peak RSS is the download's.
fn downloads(
    say: &mut dyn FnMut(String),
    work: &Path,
    data: &Path,
    sets: &[(&str, usize, usize)],
    transfers: u64,
) {
    say(format!("\n## Downloads (transfers {transfers})\n"));
    say("| set | files | MiB | agent s | agent MiB/s | rclone s | rclone MiB/s | ratio | agent CPU s | rclone CPU s | agent peak RSS MiB |".into());
    say("|---|---|---|---|---|---|---|---|---|---|---|".into());
    for &(name, count, size) in sets {
        let dir = work.join("src").join(format!("dl-{name}"));
        make_files(&dir, count.max(1), size);
        let bytes = dir_bytes(&dir);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let s3root = work.join(format!("s3-dl-{name}"));
        let s3 = start_s3(&s3root);
        rclone(&dir, &s3.endpoint, &format!("dl-{name}"), transfers);
        let files: Vec<String> = names
            .iter()
            .map(|n| format!("rclone/dl-{name}/{n}"))
            .collect();

        let agent = start_agent(work, data, &s3.endpoint, 0);
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
        let cpu0 = cpu_seconds(agent.proc.0.id());
        let (secs, p) = agent.download(&files, &format!("dl/{name}"), transfers);
        let agent_cpu = cpu_seconds(agent.proc.0.id()) - cpu0;
        let rss = peak_rss_mib(agent.proc.0.id());
        assert_eq!(p["bytes_transferred"], bytes, "{p}");
        drop(agent);
        let _ = std::fs::remove_dir_all(data.join("dl"));

        let local = work.join(format!("rclone-dl-{name}"));
        // SAFETY: as above.
        unsafe { libc::sync() };
        let (rsecs, rcpu) = rclone_copy(
            std::ffi::OsStr::new(&format!("bench:{BUCKET}/rclone/dl-{name}")),
            local.as_os_str(),
            &s3.endpoint,
            transfers,
        );
        assert_eq!(dir_bytes(&local), bytes, "rclone downloaded everything");
        drop(s3);
        let _ = std::fs::remove_dir_all(&s3root);
        let _ = std::fs::remove_dir_all(&local);
        let _ = std::fs::remove_dir_all(&dir);
        let (a, r) = (mib_s(bytes, secs), mib_s(bytes, rsecs));
        say(format!(
            "| {name} | {count} | {:.0} | {secs:.2} | {a:.1} | {rsecs:.2} | {r:.1} | {:.2}x | {agent_cpu:.2} | {rcpu:.2} | {rss:.1} |",
            bytes as f64 / (1 << 20) as f64,
            a / r
        ));
    }
}

/// `rclone copy` of `src` to the same server; returns (seconds, rclone CPU seconds).
fn rclone(src: &Path, endpoint: &str, name: &str, transfers: u64) -> (f64, f64) {
    rclone_copy(
        src.as_os_str(),
        std::ffi::OsStr::new(&format!("bench:{BUCKET}/rclone/{name}")),
        endpoint,
        transfers,
    )
}

/// rclone with the bench server as remote `bench:` and nothing else from the environment.
fn rclone_command(endpoint: &str) -> Command {
    let bin = tools().join("venv/bin/rclone");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test or scripts/bench",
        bin.display()
    );
    let mut command = Command::new(bin);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
        .env("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint)
        .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", ACCESS)
        .env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", SECRET)
        .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true");
    command
}

/// Writes `count` SSTables into `dir`, each a `Data.db` of `size` pseudo-random bytes, its true
/// `Digest.crc32` and a `TOC.txt`; returns the check request's `sstables` for them under
/// `remote_dir`.
fn make_sstables(dir: &Path, remote_dir: &str, count: usize, size: usize) -> Vec<Value> {
    std::fs::create_dir_all(dir).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut data = vec![0u8; size];
    (1..=count)
        .map(|g| {
            for b in data.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            let files = [
                ("Data.db", data.clone()),
                (
                    "Digest.crc32",
                    crc32fast::hash(&data).to_string().into_bytes(),
                ),
                ("TOC.txt", b"Data.db\nDigest.crc32\nTOC.txt\n".to_vec()),
            ];
            let listed: Vec<Value> = files
                .iter()
                .map(|(component, bytes)| {
                    let name = format!("me-{g}-big-{component}");
                    std::fs::write(dir.join(&name), bytes).unwrap();
                    json!({"name": name, "object": name, "size": bytes.len()})
                })
                .collect();
            json!({"dir": remote_dir, "files": listed})
        })
        .collect()
}

/// The agent's check job (validate's digest check: every `Data.db` streamed and its CRC-32
/// compared) against `rclone md5sum --download` of the same objects with the same parallelism,
/// from the same server; the agent is fresh, so its peak RSS is the check's.
fn checks(say: &mut dyn FnMut(String), work: &Path, data: &Path, scale: usize, transfers: u64) {
    let (count, size) = (64 / scale.min(64), 4usize << 20);
    let dir = work.join("src").join("chk");
    let sstables = make_sstables(&dir, "rclone/chk", count, size);
    let bytes = dir_bytes(&dir);
    let s3root = work.join("s3-chk");
    let s3 = start_s3(&s3root);
    rclone(&dir, &s3.endpoint, "chk", transfers);

    let agent = start_agent(work, data, &s3.endpoint, 0);
    let cpu0 = cpu_seconds(agent.proc.0.id());
    let started = Instant::now();
    let body =
        json!({"location": format!("s3:{BUCKET}"), "sstables": sstables, "transfers": transfers});
    let v = agent.http.call(
        reqwest::Method::POST,
        &format!("{}/agent/jobs/check", agent.url),
        Some(body),
    );
    let id = v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("job refused: {v}"))
        .to_string();
    let p = loop {
        let p = agent.http.call(
            reqwest::Method::GET,
            &format!("{}/agent/jobs/{id}?wait=5", agent.url),
            None,
        );
        if p["status"] != "running" {
            break p;
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let agent_cpu = cpu_seconds(agent.proc.0.id()) - cpu0;
    let rss = peak_rss_mib(agent.proc.0.id());
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(p["check"]["sstables_checked"], count, "{p}");
    assert_eq!(p["check"]["findings"], json!([]), "{p}");
    assert_eq!(p["bytes_transferred"], bytes, "{p}");
    drop(agent);

    let cpu = children_cpu();
    let started = Instant::now();
    let out = rclone_command(&s3.endpoint)
        .args(["md5sum", "--download", "--checkers", &transfers.to_string()])
        .arg(format!("bench:{BUCKET}/rclone/chk"))
        .output()
        .expect("rclone runs");
    let rsecs = started.elapsed().as_secs_f64();
    let rcpu = children_cpu() - cpu;
    assert!(out.status.success(), "rclone md5sum failed");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        3 * count,
        "rclone hashed every object"
    );
    drop(s3);
    let _ = std::fs::remove_dir_all(&s3root);
    let _ = std::fs::remove_dir_all(&dir);
    let (a, r) = (mib_s(bytes, secs), mib_s(bytes, rsecs));
    say(format!("\n## Content check (transfers {transfers})\n"));
    say("| SSTables | MiB | agent check s | agent MiB/s | rclone md5sum --download s | rclone MiB/s | ratio | agent CPU s | rclone CPU s | agent peak RSS MiB |".into());
    say("|---|---|---|---|---|---|---|---|---|---|".into());
    say(format!(
        "| {count} | {:.0} | {secs:.2} | {a:.1} | {rsecs:.2} | {r:.1} | {:.2}x | {agent_cpu:.2} | {rcpu:.2} | {rss:.1} |",
        bytes as f64 / (1 << 20) as f64,
        a / r
    ));
}

/// `rclone copy FROM TO` with the bench server as remote `bench:`; returns (seconds, rclone CPU
/// seconds).
fn rclone_copy(
    from: &std::ffi::OsStr,
    to: &std::ffi::OsStr,
    endpoint: &str,
    transfers: u64,
) -> (f64, f64) {
    let cpu = children_cpu();
    let started = Instant::now();
    let status = rclone_command(endpoint)
        .args([
            "copy",
            "--transfers",
            &transfers.to_string(),
            "--checkers",
            &transfers.to_string(),
            "--s3-no-check-bucket",
        ])
        .arg(from)
        .arg(to)
        .status()
        .expect("rclone runs");
    assert!(status.success(), "rclone failed");
    (started.elapsed().as_secs_f64(), children_cpu() - cpu)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let transfers = env_num("CAIRN_BENCH_TRANSFERS", 8);
    let scale = env_num("CAIRN_BENCH_SCALE", 1).max(1) as usize;
    let work = tempfile::Builder::new()
        .prefix("cairn-bench-")
        .tempdir()
        .unwrap();
    let data = work.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let src = work.path().join("src");
    let mut report = String::new();
    let mut say = |line: String| {
        println!("{line}");
        report.push_str(&line);
        report.push('\n');
    };
    say(format!(
        "# Agent benchmark ({} cores, transfers {transfers}, one run each)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    ));
    say("Integrity choices: both sides send UNSIGNED-PAYLOAD (no SigV4 body hash). rclone reads each file twice to send Content-MD5 and HEADs it after; the agent streams each file once (one PUT up to 256 MiB, parts above) and checks the MD5 ETag the server returns against what it sent.\n".into());

    let sets = [
        ("large", 20 / scale.min(20), 64usize << 20),
        ("small", 2000 / scale, 64usize << 10),
    ];
    say("| set | files | MiB | agent s | agent MiB/s | rclone s | rclone MiB/s | ratio | agent CPU s | rclone CPU s | server CPU s (agent / rclone) |".into());
    say("|---|---|---|---|---|---|---|---|---|---|---|".into());
    let only = std::env::var("CAIRN_BENCH_ONLY").unwrap_or_default();
    if only == "download" {
        downloads(&mut say, work.path(), &data, &sets, transfers);
        return;
    }
    if only == "check" {
        checks(&mut say, work.path(), &data, scale, transfers);
        return;
    }
    for (name, count, size) in sets
        .into_iter()
        .filter(|(n, _, _)| only.is_empty() || only == *n)
    {
        let dir = src.join(name);
        make_files(&dir, count.max(1), size);
        // Each tool gets a fresh server and root directory, and starts with nothing dirty in
        // the page cache, so neither inherits the other's state.
        let s3root = work.path().join(format!("s3-{name}-agent"));
        let s3 = start_s3(&s3root);
        let agent = start_agent(work.path(), &data, &s3.endpoint, 0);
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
        let (agent_cpu0, server_cpu0) =
            (cpu_seconds(agent.proc.0.id()), cpu_seconds(s3.proc.0.id()));
        let (secs, bytes, _) = agent.upload(&data, &dir, name, transfers);
        let agent_cpu = cpu_seconds(agent.proc.0.id()) - agent_cpu0;
        let server_cpu_a = cpu_seconds(s3.proc.0.id()) - server_cpu0;
        drop((agent, s3));
        let _ = std::fs::remove_dir_all(&s3root);

        let s3root = work.path().join(format!("s3-{name}-rclone"));
        let s3 = start_s3(&s3root);
        // SAFETY: as above.
        unsafe { libc::sync() };
        let server_cpu1 = cpu_seconds(s3.proc.0.id());
        let (rsecs, rcpu) = rclone(&dir, &s3.endpoint, name, transfers);
        let server_cpu_r = cpu_seconds(s3.proc.0.id()) - server_cpu1;
        drop(s3);
        let _ = std::fs::remove_dir_all(&s3root);
        let (a, r) = (mib_s(bytes, secs), mib_s(bytes, rsecs));
        say(format!(
            "| {name} | {count} | {:.0} | {secs:.2} | {a:.1} | {rsecs:.2} | {r:.1} | {:.2}x | {agent_cpu:.2} | {rcpu:.2} | {server_cpu_a:.2} / {server_cpu_r:.2} |",
            bytes as f64 / (1 << 20) as f64,
            a / r
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    if !only.is_empty() {
        return;
    }
    // Peak RSS of a fresh agent uploading 2 GiB with `transfers` transfers.
    let dir = src.join("rss");
    make_files(&dir, 32 / scale.min(32), 64 << 20);
    let s3root = work.path().join("s3-rss");
    let s3 = start_s3(&s3root);
    let agent = start_agent(work.path(), &data, &s3.endpoint, 0);
    let (secs, bytes, _) = agent.upload(&data, &dir, "rss", transfers);
    say(format!(
        "\nPeak RSS of the agent uploading {:.0} MiB with {transfers} transfers: {:.1} MiB ({:.1} MiB/s).",
        bytes as f64 / (1 << 20) as f64,
        peak_rss_mib(agent.proc.0.id()),
        mib_s(bytes, secs)
    ));
    drop(agent);
    drop(s3);
    let _ = std::fs::remove_dir_all(&s3root);

    // Measured rate under budgets: about 15 s of data at each rate.
    say("\n| budget MiB/s | MiB sent | seconds | measured MiB/s | error |".into());
    say("|---|---|---|---|---|".into());
    for rate in [20u64, 50] {
        let files = (rate as usize * 15 / 64 / scale).max(1);
        let set = src.join(format!("rate{rate}"));
        make_files(&set, files, 64 << 20);
        let s3root = work.path().join(format!("s3-rate{rate}"));
        let s3 = start_s3(&s3root);
        let agent = start_agent(work.path(), &data, &s3.endpoint, rate);
        let (secs, bytes, _) = agent.upload(&data, &set, &format!("rate{rate}"), transfers);
        let measured = mib_s(bytes, secs);
        say(format!(
            "| {rate} | {:.0} | {secs:.2} | {measured:.2} | {:+.1}% |",
            bytes as f64 / (1 << 20) as f64,
            (measured / rate as f64 - 1.0) * 100.0
        ));
        let _ = std::fs::remove_dir_all(&s3root);
        let _ = std::fs::remove_dir_all(&set);
    }
    downloads(&mut say, work.path(), &data, &sets, transfers);
    checks(&mut say, work.path(), &data, scale, transfers);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-agent.md");
    std::fs::write(&out, &report).unwrap();
    println!("\nReport written to {}", out.display());
}
