//! Node manifests against fixtures in the upstream shape, and the streaming reader and writer at
//! scale.

use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

use cairn::format::manifest::{
    FilesMeta, Manifest, ManifestContent, ManifestError, ManifestWriter, ReplicationType,
    stream_index, stream_index_json,
};
use cairn::format::paths::{SchemaFileInfo, SchemaKind, parse_scylla_manifest_name};
use cairn::format::tag::SnapshotTag;
use flate2::Compression;
use flate2::write::GzEncoder;

/// The bytes of a fixture under `tests/fixtures/manifests/`.
fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/manifests", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Reads a fixture both as JSON and as gzip, checks both agree, and returns the manifest.
fn read_fixture(name: &str) -> Manifest {
    let json = fixture(name);
    let from_json = Manifest::read_json(&json[..]).unwrap();
    let from_gzip = Manifest::read_gzip(&gzip(&json)[..]).unwrap();
    assert_eq!(from_json, from_gzip);
    from_json
}

/// Writes `m` as gzip, reads it back and checks nothing changed.
fn assert_round_trips(m: &Manifest) {
    let mut gz = Vec::new();
    m.write_gzip(&mut gz).unwrap();
    assert_eq!(&Manifest::read_gzip(&gz[..]).unwrap(), m);
}

#[test]
fn integer_generation_fixture() {
    let m = read_fixture("integer_generations.json");
    let c = &m.content;
    assert_eq!(c.version, "v2");
    assert_eq!(c.cluster_name, "fixture_cluster");
    assert_eq!(c.ip, "10.20.30.41");
    assert_eq!(c.size, 2_052_096);
    assert_eq!(
        c.tokens,
        [
            i64::MIN,
            -9_187_224_455_230_581_421,
            -4_611_686_018_427_387_904,
            -1,
            0,
            77,
            4_611_686_018_427_387_903,
            i64::MAX
        ]
    );
    // Fields this older shape lacks take their defaults.
    assert_eq!(c.scylla_version, "");
    assert_eq!(c.shard_count, 0);
    assert!(c.cluster_id.is_nil() && c.task_id.is_nil());
    assert_eq!(c.snapshot_tag, None);

    // The legacy schema path parses back to its snapshot.
    let schema = SchemaFileInfo::parse(&c.schema).unwrap();
    assert_eq!(schema.kind, SchemaKind::Unsafe);
    assert_eq!(schema.snapshot_tag.as_str(), "sm_20220314151617UTC");

    assert_eq!(m.index.len(), 2);
    let orders = &m.index[0];
    assert_eq!(
        (orders.keyspace.as_str(), orders.table.as_str()),
        ("shop", "orders")
    );
    assert_eq!(orders.version, "3b1f6a20a9c111eea1d2000000000000");
    assert_eq!(orders.files.len(), 18);
    assert_eq!(orders.files[1], "mc-2-big-Data.db");
    assert_eq!(orders.files[10], "mc-7-big-Data.db");
    assert_eq!(orders.size, 2_048_000);
    assert_eq!(orders.replication_type, None);
    assert!(orders.scylla_manifests.is_empty());
    assert_eq!(orders.path, None);
    assert_eq!(m.index.iter().map(|e| e.size).sum::<i64>(), c.size);

    assert_round_trips(&m);
}

#[test]
fn uuid_generation_fixture() {
    let m = read_fixture("uuid_generations.json");
    let c = &m.content;
    assert_eq!(c.scylla_version, "2025.1.2");
    assert_eq!(c.cluster_name, "tablets_cluster");
    assert_eq!(c.rack, "rack-b");
    assert_eq!((c.shard_count, c.cpu_count), (8, 8));
    assert_eq!(c.storage_size, 1_000_204_886_016);
    assert_eq!(c.instance_details.cloud_provider, "aws");
    assert_eq!(c.instance_details.instance_type, "i4i.2xlarge");
    assert_eq!(c.dc, "eu-west");
    assert_eq!(
        c.cluster_id.to_string(),
        "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    );
    assert_eq!(c.node_id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_eq!(
        c.task_id.to_string(),
        "11111111-2222-4333-8444-555555555555"
    );
    let tag: SnapshotTag = "sm_20250704120000UTC".parse().unwrap();
    assert_eq!(c.snapshot_tag.as_ref(), Some(&tag));
    let schema = SchemaFileInfo::parse(&c.schema).unwrap();
    assert_eq!(schema.kind, SchemaKind::WithInternals);
    assert_eq!(schema.cluster_id, c.cluster_id);
    assert_eq!(schema.task_id, c.task_id);

    let clicks = &m.index[0];
    assert_eq!(clicks.replication_type, Some(ReplicationType::Tablets));
    assert_eq!(
        clicks.files[0],
        "me-3ggs_0xmx_3261s2qpoyoxpg4min-big-Data.db"
    );
    assert_eq!(clicks.scylla_manifests.len(), 1);
    let (manifest_tag, node) = parse_scylla_manifest_name(&clicks.scylla_manifests[0]).unwrap();
    assert_eq!(manifest_tag, tag);
    assert_eq!(node, c.node_id);
    // The entry with an unknown field still reads.
    assert_eq!(m.index[1].replication_type, Some(ReplicationType::Vnodes));
    assert_eq!(m.index[1].size, 500);

    assert_round_trips(&m);
}

#[test]
fn go_nulls_fixture() {
    let m = read_fixture("go_nulls.json");
    assert!(m.content.tokens.is_empty());
    assert_eq!(m.content.instance_details, Default::default());
    let e = &m.index[0];
    assert!(e.files.is_empty());
    assert!(e.scylla_manifests.is_empty());
    assert_eq!(e.replication_type, None);
    assert_round_trips(&m);
}

#[test]
fn streaming_finds_the_index_before_the_header() {
    // In the integer-generation fixture `index` precedes `size`, `tokens` and `schema`.
    let json = fixture("integer_generations.json");
    let mut tables = Vec::new();
    let content = stream_index_json(&json[..], |e: FilesMeta| {
        tables.push(format!("{}.{}", e.keyspace, e.table));
        Ok::<_, ManifestError>(())
    })
    .unwrap();
    assert_eq!(tables, ["shop.orders", "system_schema.tables"]);
    assert_eq!(content.size, 2_052_096);
    assert_eq!(content.tokens.len(), 8);
}

/// One synthetic index entry of the large manifest.
fn large_entry(i: u32) -> FilesMeta {
    let generation = format!("me-{i}-big");
    FilesMeta {
        keyspace: format!("ks{}", i % 100),
        table: format!("table_{i}"),
        replication_type: Some(ReplicationType::Vnodes),
        version: format!("{i:032x}"),
        files: vec![
            format!("{generation}-Data.db"),
            format!("{generation}-TOC.txt"),
        ],
        size: i64::from(i) * 3 + 1,
        ..FilesMeta::default()
    }
}

#[test]
fn streams_a_manifest_of_100000_tables() {
    const N: u32 = 100_000;
    let content = ManifestContent {
        cluster_name: "large".into(),
        size: (0..N).map(|i| i64::from(i) * 3 + 1).sum(),
        tokens: vec![-3, 5],
        ..ManifestContent::default()
    };

    let mut file = tempfile::tempfile().unwrap();
    let mut writer = ManifestWriter::new(&mut file, &content).unwrap();
    for i in 0..N {
        writer.write_entry(&large_entry(i)).unwrap();
    }
    assert_eq!(writer.entries(), u64::from(N));
    writer.finish().unwrap();

    file.seek(SeekFrom::Start(0)).unwrap();
    let (mut count, mut total, mut next) = (0u32, 0i64, 0u32);
    let read = stream_index(BufReader::new(&mut file), |e| {
        // Entries arrive one by one, in order, whole.
        assert_eq!(e, large_entry(next));
        next += 1;
        count += 1;
        total += e.size;
        Ok::<_, ManifestError>(())
    })
    .unwrap();
    assert_eq!(count, N);
    assert_eq!(total, content.size);
    assert_eq!(read, content);
}
