//! The agent stays in its data directory whatever links are planted in it: writes (copy, move,
//! download and its temporary file) never go through a link, reads, deletes and listings never
//! follow one out; and every path a request carries is checked with the field named (empty, NUL).

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::TestCluster;
use common::agent::{AgentProcess, config_yaml};
use reqwest::Method;
use serde_json::{Value, json};

/// An agent beside one emulated node, a `localstorage:bkt` location, and a directory outside
/// both where escapes would land.
struct Setup {
    _cluster: TestCluster,
    agent: AgentProcess,
    data: PathBuf,
    bucket: PathBuf,
    outside: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let cluster = TestCluster::start("dc1:1").await;
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&bucket).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let yaml = config_yaml(
            &cluster,
            0,
            &format!("localstorage:\n  bkt: {}\n", bucket.display()),
        );
        let agent = AgentProcess::start(dir.path(), &yaml);
        let data = cluster.data_dir(0).canonicalize().unwrap();
        std::fs::create_dir_all(data.join("work")).unwrap();
        Setup {
            _cluster: cluster,
            agent,
            data,
            bucket,
            outside,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.agent.call(Method::POST, path, Some(body)).await
    }

    /// Bytes in every file under the outside directory.
    fn bytes_outside(&self) -> u64 {
        common::files_in(&self.outside)
            .iter()
            .map(|f| std::fs::metadata(self.outside.join(f)).map_or(0, |m| m.len()))
            .sum()
    }
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_move_never_write_through_a_link() {
    let s = Setup::new().await;
    std::fs::write(s.data.join("work/src.crc32"), b"123456789").unwrap();
    // A dangling link to a file outside, as the destination of a copy.
    symlink(s.outside.join("planted"), s.data.join("work/dst.crc32")).unwrap();
    let (status, body) = s
        .post(
            "/agent/files/move",
            json!({"from": {"location": "data", "path": "work/src.crc32"},
                   "to": {"location": "data", "path": "work/dst.crc32"}, "copy": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.bytes_outside(), 0, "nothing written outside");
    assert!(
        !is_link(&s.data.join("work/dst.crc32")),
        "the link was replaced"
    );
    assert_eq!(
        std::fs::read(s.data.join("work/dst.crc32")).unwrap(),
        b"123456789"
    );

    // A link to an outside directory as a parent of the destination: refused, for copy and
    // move alike, and nothing is created there.
    symlink(&s.outside, s.data.join("work/out")).unwrap();
    for copy in [true, false] {
        for to in ["work/out/x.crc32", "work/out/new/x.crc32"] {
            let (status, body) = s
                .post(
                    "/agent/files/move",
                    json!({"from": {"location": "data", "path": "work/src.crc32"},
                           "to": {"location": "data", "path": to}, "copy": copy}),
                )
                .await;
            assert_eq!(status, 403, "copy={copy} {to}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains("symbolic link"),
                "{body}"
            );
        }
    }
    assert!(common::files_in(&s.outside).is_empty());
    assert!(
        s.data.join("work/src.crc32").exists(),
        "a refused move moves nothing"
    );
    // A link as the source is not followed either.
    std::fs::write(s.outside.join("secret.crc32"), b"secret").unwrap();
    symlink(s.outside.join("secret.crc32"), s.data.join("work/ln.crc32")).unwrap();
    let (status, body) = s
        .post(
            "/agent/files/move",
            json!({"from": {"location": "data", "path": "work/ln.crc32"},
                   "to": {"location": "data", "path": "work/copied.crc32"}, "copy": true}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(!s.data.join("work/copied.crc32").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_part_file_link_does_not_make_a_download_write_outside() {
    let s = Setup::new().await;
    let object = vec![7u8; 7064];
    std::fs::create_dir_all(s.bucket.join("backup/sst")).unwrap();
    std::fs::write(s.bucket.join("backup/sst/me-1-big-Data.db"), &object).unwrap();
    std::fs::create_dir_all(s.data.join("work/restore")).unwrap();
    symlink(
        s.outside.join("stolen"),
        s.data.join("work/restore/.me-1-big-Data.db.cairn-part"),
    )
    .unwrap();
    let id = s
        .agent
        .download(
            "localstorage:bkt",
            &["backup/sst/me-1-big-Data.db".to_string()],
            "work/restore",
        )
        .await;
    let p = s.agent.wait(&id).await;
    assert_eq!(p["status"], "success", "{p}");
    assert_eq!(s.bytes_outside(), 0, "nothing written outside");
    assert_eq!(
        std::fs::read(s.data.join("work/restore/me-1-big-Data.db")).unwrap(),
        object
    );
    // A final name that is a link is replaced by the file, not written through.
    symlink(
        s.outside.join("stolen2"),
        s.data.join("work/restore/again-Data.db"),
    )
    .unwrap();
    std::fs::write(s.bucket.join("backup/sst/again-Data.db"), &object).unwrap();
    let id = s
        .agent
        .download(
            "localstorage:bkt",
            &["backup/sst/again-Data.db".to_string()],
            "work/restore",
        )
        .await;
    assert_eq!(s.agent.wait(&id).await["status"], "success");
    assert_eq!(s.bytes_outside(), 0);
    assert!(!is_link(&s.data.join("work/restore/again-Data.db")));

    // A destination directory through a link is refused at once, and nothing is created.
    symlink(&s.outside, s.data.join("work/out")).unwrap();
    for dest in ["work/out", "work/out/deeper"] {
        let (status, body) = s
            .post(
                "/agent/jobs/download",
                json!({"location": "localstorage:bkt", "files": ["backup/sst/again-Data.db"], "dest_dir": dest}),
            )
            .await;
        assert_eq!(status, 403, "{dest}: {body}");
        assert!(
            body["message"].as_str().unwrap().starts_with("dest_dir: "),
            "{body}"
        );
    }
    assert!(common::files_in(&s.outside).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_deletes_and_listings_do_not_follow_links_out() {
    let s = Setup::new().await;
    std::fs::write(s.outside.join("secret.crc32"), b"secret").unwrap();
    std::fs::create_dir_all(s.outside.join("sub")).unwrap();
    std::fs::write(s.outside.join("sub/deep.crc32"), b"deep").unwrap();
    symlink(s.outside.join("secret.crc32"), s.data.join("work/ln.crc32")).unwrap();
    symlink(&s.outside, s.data.join("work/dirlink")).unwrap();
    std::fs::write(s.data.join("work/own.crc32"), b"own").unwrap();

    let (status, _) = s
        .agent
        .call(
            Method::GET,
            "/agent/files/read?location=data&path=work/ln.crc32",
            None,
        )
        .await;
    assert_eq!(status, 403, "a link is not read");

    let listing = s.agent.list("data", "work", true).await;
    let paths: Vec<&str> = listing.iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(
        paths,
        vec!["dirlink", "ln.crc32", "own.crc32"],
        "links listed, never descended into: {listing:?}"
    );
    assert!(listing.iter().all(|e| e["dir"] == false));

    // Deleting a link deletes the link, never its target.
    let (status, body) = s
        .post(
            "/agent/files/delete",
            json!({"location": "data", "paths": ["work/ln.crc32", "work/dirlink"]}),
        )
        .await;
    assert_eq!((status, &body["deleted"]), (200, &json!(2)), "{body}");
    assert!(!is_link(&s.data.join("work/ln.crc32")));
    assert_eq!(
        std::fs::read(s.outside.join("secret.crc32")).unwrap(),
        b"secret"
    );
    assert!(
        s.outside.join("sub/deep.crc32").exists(),
        "the linked directory's content stays"
    );

    // Through a linked directory: refused, and nothing at all is deleted.
    symlink(&s.outside, s.data.join("work/dirlink")).unwrap();
    let (status, body) = s
        .post(
            "/agent/files/delete",
            json!({"location": "data", "paths": ["work/own.crc32", "work/dirlink/secret.crc32"]}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        s.data.join("work/own.crc32").exists(),
        "a refused delete deletes nothing"
    );
    assert!(s.outside.join("secret.crc32").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_a_request_carries_is_checked_naming_the_field() {
    let s = Setup::new().await;
    std::fs::create_dir_all(s.data.join("work/dir")).unwrap();
    let nul = "work/a\u{0}b";
    let cases: Vec<(Method, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/agent/files/delete".into(),
            Some(json!({"location": "data", "paths": [""]})),
            "paths[0]: empty path",
        ),
        (
            Method::POST,
            "/agent/files/delete".into(),
            Some(json!({"location": "data", "paths": ["work/x", nul]})),
            "paths[1]: contains a NUL byte",
        ),
        (
            Method::POST,
            "/agent/files/delete".into(),
            Some(json!({"location": "data", "paths": ["work/dir"]})),
            "paths[0]: work/dir is a directory",
        ),
        (
            Method::POST,
            "/agent/files/delete".into(),
            Some(json!({"location": "localstorage:bkt", "paths": [""]})),
            "paths[0]: empty path",
        ),
        (
            Method::POST,
            "/agent/files/delete".into(),
            Some(json!({"location": "localstorage:bkt", "paths": ["a", nul]})),
            "paths[1]: ",
        ),
        (
            Method::POST,
            "/agent/files/list".into(),
            Some(json!({"location": "data", "path": nul})),
            "path: contains a NUL byte",
        ),
        (
            Method::POST,
            "/agent/files/list".into(),
            Some(json!({"location": "localstorage:bkt", "path": nul})),
            "path: ",
        ),
        (
            Method::GET,
            "/agent/files/read?location=data&path=work/a%00b.crc32".into(),
            None,
            "path: contains a NUL byte",
        ),
        (
            Method::GET,
            "/agent/files/read?location=data&path=".into(),
            None,
            "path: empty path",
        ),
        (
            Method::GET,
            "/agent/files/read?location=localstorage:bkt&path=backup/meta/a%00b".into(),
            None,
            "path: ",
        ),
        (
            Method::PUT,
            "/agent/files/write?location=localstorage:bkt&path=backup/a%00b".into(),
            None,
            "path: ",
        ),
        (
            Method::PUT,
            "/agent/files/write?location=localstorage:bkt&path=".into(),
            None,
            "path: empty path",
        ),
        (
            Method::POST,
            "/agent/files/move".into(),
            Some(
                json!({"from": {"location": "data", "path": nul}, "to": {"location": "data", "path": "work/y"}}),
            ),
            "from.path: contains a NUL byte",
        ),
        (
            Method::POST,
            "/agent/files/move".into(),
            Some(
                json!({"from": {"location": "data", "path": "work/x"}, "to": {"location": "data", "path": ""}}),
            ),
            "to.path: empty path",
        ),
        (
            Method::POST,
            "/agent/files/move".into(),
            Some(
                json!({"from": {"location": "localstorage:bkt", "path": "a"}, "to": {"location": "localstorage:bkt", "path": nul}}),
            ),
            "to.path: ",
        ),
        (
            Method::POST,
            "/agent/jobs/upload".into(),
            Some(
                json!({"source_dir": nul, "location": "localstorage:bkt", "remote_dir": "backup/x", "tag": "sm_20260102030405UTC"}),
            ),
            "source_dir: contains a NUL byte",
        ),
        (
            Method::POST,
            "/agent/jobs/upload".into(),
            Some(
                json!({"source_dir": "work", "location": "localstorage:bkt", "remote_dir": "backup/a\u{0}", "tag": "sm_20260102030405UTC"}),
            ),
            "remote_dir: ",
        ),
        (
            Method::POST,
            "/agent/jobs/download".into(),
            Some(json!({"location": "localstorage:bkt", "files": ["backup/a"], "dest_dir": nul})),
            "dest_dir: contains a NUL byte",
        ),
        (
            Method::POST,
            "/agent/jobs/download".into(),
            Some(
                json!({"location": "localstorage:bkt", "files": ["backup/a", "b\u{0}"], "dest_dir": "work"}),
            ),
            "files[1]: ",
        ),
    ];
    for (method, path, body, want) in cases {
        let (status, answer) = s.agent.call(method.clone(), &path, body.clone()).await;
        let message = answer["message"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{method} {path} {body:?}: {answer}");
        assert!(
            message.starts_with(want),
            "{method} {path} {body:?}: {message}"
        );
    }
    assert!(s.data.join("work/dir").is_dir(), "nothing deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_planted_in_a_localstorage_directory_lead_nowhere() {
    let s = Setup::new().await;
    std::fs::create_dir_all(s.bucket.join("backup")).unwrap();
    std::fs::write(s.outside.join("secret.json"), b"secret").unwrap();
    symlink(&s.outside, s.bucket.join("backup/meta")).unwrap();
    let (status, body) = s
        .agent
        .call(
            Method::PUT,
            "/agent/files/write?location=localstorage:bkt&path=backup/meta/planted.json",
            None,
        )
        .await;
    assert_eq!(status, 403, "write through a link: {body}");
    let (status, body) = s
        .agent
        .call(
            Method::GET,
            "/agent/files/read?location=localstorage:bkt&path=backup/meta/secret.json",
            None,
        )
        .await;
    assert_eq!(status, 403, "read through a link: {body}");
    let (status, body) = s
        .post(
            "/agent/files/delete",
            json!({"location": "localstorage:bkt", "paths": ["backup/meta/secret.json"]}),
        )
        .await;
    assert_ne!(status, 200, "delete through a link: {body}");
    let listing = s.agent.list("localstorage:bkt", "backup", true).await;
    assert!(
        listing.is_empty(),
        "nothing listed through the link: {listing:?}"
    );
    assert_eq!(
        std::fs::read(s.outside.join("secret.json")).unwrap(),
        b"secret",
        "the outside file is untouched"
    );
    assert_eq!(
        common::files_in(&s.outside),
        vec!["secret.json".to_string()]
    );
}
