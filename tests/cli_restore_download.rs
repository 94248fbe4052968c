//! `cairn restore download --offline` as an operator runs it with nothing but the bucket: a real
//! backup is taken through a real manager and agent, the manager is stopped, and one node's
//! SSTables are fetched into per-table directories. Checked: every file of the manifest is
//! there with its size, a file a later backup replaced comes back in the version of the
//! snapshot asked for, a second run keeps everything, `-o json` tells the same, and a missing
//! object, a `--dest` that is a file or a link, and a run without `--offline` are refused with
//! one line, writing nothing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use cairn::format::manifest::Manifest;
use cairn::format::paths::ManifestInfo;
use common::cli::{BackupSetup, Run, cairn_with_env, files_under};

/// Where the manager was: nothing answers there once it is stopped.
const GONE: &str = "http://127.0.0.1:1";
/// A tag later than any backup the test takes.
const LATER: &str = "sm_29990101000000UTC";

async fn offline(args: &[&str]) -> Run {
    cairn_with_env(GONE, args, &[]).await
}

/// The final manifest in the bucket and its content.
fn manifest(bucket: &Path) -> (ManifestInfo, Manifest) {
    let path = files_under(bucket)
        .into_iter()
        .find(|p| p.ends_with("_manifest.json.gz"))
        .expect("a final manifest in the bucket");
    let info = ManifestInfo::parse(&path).expect("a manifest path");
    let file = std::fs::File::open(bucket.join(&path)).unwrap();
    (info, Manifest::read_gzip(file).expect("a manifest"))
}

/// The regular files of `dir` with their bytes.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_nodes_snapshot_is_downloaded_into_table_directories_without_a_manager() {
    let mut s = BackupSetup::with_nodes("dc1:1").await;
    let addr = s.cluster.address(0);
    for table in ["orders", "customers"] {
        s.cluster
            .post_ok(
                0,
                &format!("/emulator/nodes/{addr}/write?keyspace=store&table={table}&bytes=200000"),
            )
            .await;
    }
    s.backup_now("nightly").await;
    assert!(s.manager.stop().success(), "the manager stops cleanly");

    let (info, manifest) = manifest(&s.bucket);
    let tag = info.snapshot_tag.to_string();
    let node = info.node_id.clone();
    let config = s.dir.path().join("agent0/agent.yaml");
    let config = config.to_str().unwrap().to_string();
    let tables: Vec<_> = manifest
        .index
        .iter()
        .filter(|t| !t.files.is_empty())
        .collect();
    assert!(tables.len() >= 2, "the backup has tables with files");

    // A later backup replaced one file: the snapshot's version is kept as `<name>.sm_<later>`,
    // and the plain name holds other bytes.
    let replaced_table = tables[0];
    let replaced = replaced_table.files[0].clone();
    let remote_dir = s.bucket.join(info.sstable_version_dir(
        &replaced_table.keyspace,
        &replaced_table.table,
        &replaced_table.version,
    ));
    let original = std::fs::read(remote_dir.join(&replaced)).unwrap();
    std::fs::write(remote_dir.join(format!("{replaced}.{LATER}")), &original).unwrap();
    std::fs::write(remote_dir.join(&replaced), b"a later snapshot's bytes").unwrap();

    let dest = s.dir.path().join("restore");
    let dest_str = dest.to_str().unwrap().to_string();
    let base = [
        "restore",
        "download",
        "--offline",
        "-L",
        "localstorage:bkt",
        "--storage-config",
        &config,
        "-T",
        &tag,
        "--node",
        &node,
        "--dest",
        &dest_str,
    ];
    let doc = offline(&[&base[..], &["-o", "json", "--transfers", "3"]].concat())
        .await
        .json("restore download");

    // Every table's files, with the bytes backed up, in `<keyspace>/<table>-<version>`.
    let mut files = 0u64;
    let mut bytes = 0u64;
    for t in &tables {
        let local = dest
            .join(&t.keyspace)
            .join(format!("{}-{}", t.table, t.version));
        let got = files_of(&local);
        let names: Vec<&String> = got.keys().collect();
        let mut want: Vec<&String> = t.files.iter().collect();
        want.sort();
        assert_eq!(
            names, want,
            "{}.{}: the manifest's files",
            t.keyspace, t.table
        );
        let dir = s
            .bucket
            .join(info.sstable_version_dir(&t.keyspace, &t.table, &t.version));
        for (name, content) in &got {
            let expected = if *name == replaced && std::ptr::eq(*t, replaced_table) {
                original.clone()
            } else {
                std::fs::read(dir.join(name)).unwrap()
            };
            assert_eq!(content, &expected, "{}.{} {name}", t.keyspace, t.table);
        }
        let size: u64 = got.values().map(|c| c.len() as u64).sum();
        assert_eq!(
            size as i64, t.size,
            "{}.{}: the manifest's size",
            t.keyspace, t.table
        );
        files += got.len() as u64;
        bytes += size;
    }
    assert_eq!(doc["files"], files, "{doc}");
    assert_eq!(doc["bytes"], bytes, "{doc}");
    assert_eq!(doc["bytes_downloaded"], bytes, "{doc}");
    assert_eq!(doc["files_kept"], 0, "{doc}");
    assert_eq!(doc["files_failed"], 0, "{doc}");
    assert_eq!(doc["node_id"], node.as_str());
    assert_eq!(doc["snapshot_tag"], tag.as_str());
    assert_eq!(
        doc["tables"].as_array().map(Vec::len),
        Some(manifest.index.len())
    );

    // A second run keeps everything; the table tells so.
    let again = offline(&base).await;
    let out = again.ok("second run");
    assert!(
        out.contains(&format!(
            "Downloaded 0 files (0 B), kept {files} files already there"
        )),
        "{out}"
    );
    let total = out
        .lines()
        .find(|l| l.starts_with("total ("))
        .unwrap_or_else(|| panic!("a total row: {out}"));
    assert!(total.contains(&format!(" {files} ")), "{total}");

    // A truncated file is fetched again; the rest is kept.
    let t = tables[1];
    let victim = dest
        .join(&t.keyspace)
        .join(format!("{}-{}", t.table, t.version))
        .join(&t.files[0]);
    let full = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &full[..full.len() / 2]).unwrap();
    let doc = offline(&[&base[..], &["-o", "json"]].concat())
        .await
        .json("third run");
    assert_eq!(doc["files_downloaded"], 1, "{doc}");
    assert_eq!(doc["bytes_downloaded"], full.len() as u64, "{doc}");
    assert_eq!(std::fs::read(&victim).unwrap(), full);

    // -K picks tables.
    let only = s.dir.path().join("only");
    let doc = offline(&[
        "restore",
        "download",
        "--offline",
        "-L",
        "localstorage:bkt",
        "--storage-config",
        &config,
        "-T",
        &tag,
        "--node",
        &node,
        "--dest",
        only.to_str().unwrap(),
        "-K",
        &format!("{}.{}", t.keyspace, t.table),
        "-o",
        "json",
    ])
    .await
    .json("-K");
    assert_eq!(doc["tables"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["tables"][0]["table"], t.table.as_str());

    // A missing object fails naming it, and writes nothing.
    let gone = &tables[1].files[0];
    let gone_dir = s.bucket.join(info.sstable_version_dir(
        &tables[1].keyspace,
        &tables[1].table,
        &tables[1].version,
    ));
    std::fs::remove_file(gone_dir.join(gone)).unwrap();
    let fresh = s.dir.path().join("fresh");
    let run = offline(&[
        "restore",
        "download",
        "--offline",
        "-L",
        "localstorage:bkt",
        "--storage-config",
        &config,
        "-T",
        &tag,
        "--node",
        &node,
        "--dest",
        fresh.to_str().unwrap(),
    ])
    .await;
    let line = run.one_line_error("a missing object").to_string();
    assert!(
        line.contains(gone.as_str()),
        "the message names the file: {line}"
    );
    assert_eq!(run.code, 4, "{line}");
    assert!(!fresh.exists(), "nothing was written: {line}");

    // --dest that is a file, or a link, is refused.
    let file = s.dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let link = s.dir.path().join("a-link");
    std::os::unix::fs::symlink(&dest, &link).unwrap();
    for bad in [&file, &link] {
        let mut args = base.to_vec();
        let last = args.len() - 1;
        args[last] = bad.to_str().unwrap();
        let run = offline(&args).await;
        let line = run.one_line_error("a bad --dest").to_string();
        assert!(line.contains("--dest"), "{line}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");

    // Unknown node and no --offline.
    let mut args = base.to_vec();
    args[10] = "no-such-node";
    let line = offline(&args)
        .await
        .one_line_error("unknown node")
        .to_string();
    assert!(
        line.contains("no-such-node") && line.contains(&node),
        "{line}"
    );
    let args: Vec<&str> = base.iter().copied().filter(|a| *a != "--offline").collect();
    let run = offline(&args).await;
    let line = run.one_line_error("without --offline").to_string();
    assert!(line.contains("--offline"), "{line}");
    assert_eq!(run.code, 2);
}
