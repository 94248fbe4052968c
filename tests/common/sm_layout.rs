//! A backup in ScyllaDB Manager's own layout, written straight into a directory bucket: what
//! Cairn must restore and validate as it does its own backups.

use std::path::Path;

/// Writes, under `bucket`, a backup in ScyllaDB Manager's layout as the reference sample shows
/// it: one node manifest per node (no Cairn fields), integer-generation `mc` SSTables whose
/// `Data.db` is opaque bytes (a real, compressed SSTable to the emulator) with their true
/// `Digest.crc32` and `TOC.txt`. Answers the snapshot tag.
pub fn write_manager_backup(
    bucket: &Path,
    cluster_id: &str,
    nodes: &[&str],
    table_version: &str,
) -> String {
    use std::io::Write;
    let tag = "sm_20250102030405UTC";
    let task = "9f3c2f5e-5b55-4d8e-9d6a-0a8c1f0e5a11";
    let components = [
        "CompressionInfo.db",
        "Data.db",
        "Digest.crc32",
        "Filter.db",
        "Index.db",
        "Scylla.db",
        "Statistics.db",
        "Summary.db",
        "TOC.txt",
    ];
    for (n, node) in nodes.iter().enumerate() {
        let dir = bucket.join(format!(
            "backup/sst/cluster/{cluster_id}/dc/dc1/node/{node}/keyspace/shop/table/orders/{table_version}"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Vec::new();
        let mut size = 0u64;
        for generation in [2 + n, 7 + n] {
            let data: Vec<u8> = (0..40_000u32)
                .map(|i| {
                    (i.wrapping_mul(2_654_435_761)
                        .wrapping_add(generation as u32 * 97)
                        >> 13) as u8
                })
                .collect();
            for c in components {
                let name = format!("mc-{generation}-big-{c}");
                let bytes: Vec<u8> = match c {
                    "Data.db" => data.clone(),
                    "Digest.crc32" => crc32fast::hash(&data).to_string().into_bytes(),
                    "TOC.txt" => components
                        .iter()
                        .map(|c| format!("{c}\n"))
                        .collect::<String>()
                        .into_bytes(),
                    _ => vec![generation as u8; 64],
                };
                size += bytes.len() as u64;
                std::fs::write(dir.join(&name), &bytes).unwrap();
                files.push(name);
            }
        }
        let manifest = serde_json::json!({
            "version": "v2",
            "cluster_name": "fixture_cluster",
            "ip": format!("10.20.30.{}", 41 + n),
            "index": [{"keyspace": "shop", "table": "orders", "version": table_version,
                       "files": files, "size": size}],
            "size": size,
            "tokens": [-4611686018427387904i64, 0, 4611686018427387903i64],
            "schema": "",
        });
        let meta = bucket.join(format!(
            "backup/meta/cluster/{cluster_id}/dc/dc1/node/{node}"
        ));
        std::fs::create_dir_all(&meta).unwrap();
        let file =
            std::fs::File::create(meta.join(format!("task_{task}_tag_{tag}_manifest.json.gz")))
                .unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        gz.write_all(manifest.to_string().as_bytes()).unwrap();
        gz.finish().unwrap();
    }
    tag.to_string()
}

/// The task of [`write_odd_manifests`].
pub const ODD_TASK: &str = "5d0c3a4e-1b2f-4c6d-8e9f-a0b1c2d3e4f5";
/// The snapshot of [`write_odd_manifests`].
pub const ODD_TAG: &str = "sm_20250102030405UTC";
/// The table version of [`write_odd_manifests`].
pub const ODD_VERSION: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Writes, under `bucket`, one snapshot ([`ODD_TAG`]) of cluster `cluster_id` whose node
/// manifests (DC `dc1`, task [`ODD_TASK`]) are everything a bucket may hold: `n1` plain v2,
/// `n2` with a `replication_type` of `future`, `n3` of version `v3`, `n4` without a version
/// (each of `shop.orders`, files `mc-N-big-Data.db`, and `n1` also `mc-1-big-TOC.txt`; sizes
/// 100, 50, 30, 20 bytes; all naming one schema file), `n5` with `"index": null`, and `n6`
/// a corrupt gzip. Only manifests are written. Answers `n6`'s path.
pub fn write_odd_manifests(bucket: &Path, cluster_id: &str) -> String {
    use std::io::Write;
    let schema =
        format!("backup/schema/cluster/{cluster_id}/task_{ODD_TASK}_tag_{ODD_TAG}_schema.tar.gz");
    let entry = |n: u32, size: u64, extra: serde_json::Value| {
        let mut files = vec![format!("mc-{n}-big-Data.db")];
        if n == 1 {
            files.push("mc-1-big-TOC.txt".into());
        }
        let mut e = serde_json::json!({"keyspace": "shop", "table": "orders",
            "version": ODD_VERSION, "files": files, "size": size});
        if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
            e.extend(extra.clone());
        }
        e
    };
    let manifest = |n: u32, size: u64, version: Option<&str>, extra: serde_json::Value| {
        let mut m = serde_json::json!({"cluster_name": "odd", "ip": format!("10.9.9.{n}"),
            "size": size, "schema": schema, "index": [entry(n, size, extra)]});
        if let Some(v) = version {
            m["version"] = serde_json::json!(v);
        }
        m
    };
    let nodes = [
        (
            "n1",
            Some(manifest(1, 100, Some("v2"), serde_json::json!({}))),
        ),
        (
            "n2",
            Some(manifest(
                2,
                50,
                Some("v2"),
                serde_json::json!({"replication_type": "future"}),
            )),
        ),
        (
            "n3",
            Some(manifest(3, 30, Some("v3"), serde_json::json!({}))),
        ),
        ("n4", Some(manifest(4, 20, None, serde_json::json!({})))),
        (
            "n5",
            Some(serde_json::json!({"version": "v2", "cluster_name": "odd", "index": null})),
        ),
        ("n6", None),
    ];
    let mut damaged = String::new();
    for (node, doc) in nodes {
        let rel = format!(
            "backup/meta/cluster/{cluster_id}/dc/dc1/node/{node}/task_{ODD_TASK}_tag_{ODD_TAG}_manifest.json.gz"
        );
        let path = bucket.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match doc {
            Some(doc) => {
                let file = std::fs::File::create(&path).unwrap();
                let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
                gz.write_all(doc.to_string().as_bytes()).unwrap();
                gz.finish().unwrap();
            }
            None => {
                // A gzip header, then garbage: what a torn upload leaves.
                std::fs::write(
                    &path,
                    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not deflate",
                )
                .unwrap();
                damaged = rel;
            }
        }
    }
    damaged
}
