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
