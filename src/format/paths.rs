//! Every remote path of the upstream bucket layout, built and parsed back.
//!
//! Paths are relative to the bucket root (prefix them with [`Location::remote_path`] for rclone):
//!
//! ```text
//! backup/meta/cluster/<cluster>/dc/<dc>/node/<node>/task_<task>_tag_<tag>_manifest.json.gz[.tmp]
//! backup/schema/cluster/<cluster>/task_<task>_tag_<tag>_schema_with_internals.json.gz
//! backup/schema/cluster/<cluster>/task_<task>_tag_<tag>_schema.tar.gz
//! backup/schema/cluster/<cluster>/task_<task>_tag_<tag>_alternator_schema.json.gz
//! backup/sst/cluster/<cluster>/dc/<dc>/node/<node>/keyspace/<ks>/table/<table>/<version>/<file>
//!     tag_<tag>_node_<node>_manifest.json   (Scylla's per-table manifest, renamed)
//! ```
//!
//! Builders are free functions named after upstream `backupspec/paths.go`; the parsers
//! ([`ManifestInfo`], [`SchemaFileInfo`], [`SSTableDirInfo`], [`parse_scylla_manifest_name`])
//! invert them. Parsing is strict: a path must have exactly the elements of the layout, with no
//! empty elements; a leading or trailing `/` is ignored.
//!
//! [`Location::remote_path`]: crate::format::location::Location::remote_path

use uuid::Uuid;

use crate::format::tag::SnapshotTag;

/// Name suffix of a node manifest file.
pub const MANIFEST_SUFFIX: &str = "manifest.json.gz";
/// Name suffix of the CQL schema file used for restore (Scylla 6.0 / 2024.2 and later).
pub const SCHEMA_SUFFIX: &str = "schema_with_internals.json.gz";
/// Name suffix of the legacy "unsafe" schema archive, no longer written, only deleted.
pub const UNSAFE_SCHEMA_SUFFIX: &str = "schema.tar.gz";
/// Name suffix of the Alternator schema file.
pub const ALTERNATOR_SCHEMA_SUFFIX: &str = "alternator_schema.json.gz";
/// Suffix appended to a file while it is temporary.
pub const TEMP_FILE_EXT: &str = ".tmp";
/// Name of the manifest Scylla writes into every table snapshot dir.
pub const SCYLLA_MANIFEST: &str = "manifest.json";

/// What a path parser found wrong, quoting the whole input.
///
/// Positions count from 1: "element 4" is the fourth `/`-separated element of the path, "file
/// name part 2" the second `_`-separated part of its file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An element is present but is not what the layout has at that place.
    #[error("path {path:?}: {unit} {position} is {found:?} (expected {expected})")]
    Unexpected {
        /// The whole input.
        path: String,
        /// `"element"` for path elements, `"file name part"` inside a file name.
        unit: &'static str,
        /// 1-based position of the offending element.
        position: usize,
        /// The element as found.
        found: String,
        /// What the layout has at that place.
        expected: String,
    },
    /// The input ends before the layout does.
    #[error("path {path:?}: {unit} {position} is missing (expected {expected})")]
    Missing {
        /// The whole input.
        path: String,
        /// `"element"` for path elements, `"file name part"` inside a file name.
        unit: &'static str,
        /// 1-based position of the first missing element.
        position: usize,
        /// What the layout has at that place.
        expected: String,
    },
    /// The input goes on after the layout ends.
    #[error("path {path:?}: unexpected {unit} {position} {found:?} after the end of the layout")]
    Extra {
        /// The whole input.
        path: String,
        /// `"element"` for path elements, `"file name part"` inside a file name.
        unit: &'static str,
        /// 1-based position of the first extra element.
        position: usize,
        /// The first extra element.
        found: String,
    },
}

/// Splits `path` after dropping a leading and trailing `/`.
fn split_path(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// A cursor over the elements of a path (or the parts of a file name) that produces
/// [`PathError`]s naming the whole input.
struct Elements<'a> {
    /// The whole input, quoted in errors.
    input: &'a str,
    /// `"element"` or `"file name part"`.
    unit: &'static str,
    /// The elements to consume.
    parts: Vec<&'a str>,
    /// Index of the next element.
    pos: usize,
}

impl<'a> Elements<'a> {
    /// A cursor over the `/`-separated elements of `path`.
    fn path(path: &'a str) -> Self {
        Elements {
            input: path,
            unit: "element",
            parts: split_path(path),
            pos: 0,
        }
    }

    /// A cursor over the `_`-separated parts of file `name` (of `path`); the last of at most
    /// `max_parts` parts takes the rest of the name, underscores included.
    fn file_name(path: &'a str, name: &'a str, max_parts: usize) -> Self {
        Elements {
            input: path,
            unit: "file name part",
            parts: name.splitn(max_parts, '_').collect(),
            pos: 0,
        }
    }

    /// An `Unexpected` error about the element just consumed.
    fn unexpected(&self, found: &str, expected: impl Into<String>) -> PathError {
        PathError::Unexpected {
            path: self.input.to_owned(),
            unit: self.unit,
            position: self.pos,
            found: found.to_owned(),
            expected: expected.into(),
        }
    }

    /// The next element; `expected` describes it for the error when it is missing.
    fn next(&mut self, expected: &str) -> Result<&'a str, PathError> {
        let part = self
            .parts
            .get(self.pos)
            .copied()
            .ok_or_else(|| PathError::Missing {
                path: self.input.to_owned(),
                unit: self.unit,
                position: self.pos + 1,
                expected: expected.to_owned(),
            })?;
        self.pos += 1;
        Ok(part)
    }

    /// Consumes an element that must equal one of `literals`; returns the index of the match.
    fn literal(&mut self, literals: &[&str]) -> Result<usize, PathError> {
        let expected = literals
            .iter()
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let part = self.next(&expected)?;
        match literals.iter().position(|l| *l == part) {
            Some(i) => Ok(i),
            None => Err(self.unexpected(part, expected)),
        }
    }

    /// Consumes a UUID element in canonical form (lowercase, hyphenated), so that the path
    /// can be rebuilt as it was; `what` names it, e.g. "the cluster ID".
    fn uuid(&mut self, what: &str) -> Result<Uuid, PathError> {
        let expected = format!("{what}, a lowercase hyphenated UUID");
        let part = self.next(&expected)?;
        Uuid::try_parse(part)
            .ok()
            .filter(|u| u.hyphenated().to_string() == part)
            .ok_or_else(|| self.unexpected(part, expected))
    }

    /// Consumes a free-form name element; it must be non-empty and not `.` or `..`.
    fn name(&mut self, what: &str) -> Result<String, PathError> {
        let part = self.next(what)?;
        if part.is_empty() || part == "." || part == ".." {
            return Err(
                self.unexpected(part, format!("{what}, a non-empty name other than . or .."))
            );
        }
        Ok(part.to_owned())
    }

    /// Consumes a table version element: 32 lowercase hex digits.
    fn table_version(&mut self) -> Result<String, PathError> {
        let expected = "the table version, 32 lowercase hex digits";
        let part = self.next(expected)?;
        if is_table_version(part) {
            Ok(part.to_owned())
        } else {
            Err(self.unexpected(part, expected))
        }
    }

    /// Consumes the `sm`, `<14 digits>UTC` parts of a snapshot tag split on `_`.
    fn tag(&mut self) -> Result<SnapshotTag, PathError> {
        self.literal(&["sm"])?;
        let expected = "the snapshot tag's date and time, YYYYMMDDhhmmssUTC";
        let part = self.next(expected)?;
        format!("sm_{part}")
            .parse()
            .map_err(|_| self.unexpected(part, expected))
    }

    /// Consumes a free-form name element if one is left.
    fn optional_name(&mut self, what: &str) -> Result<Option<String>, PathError> {
        if self.pos < self.parts.len() {
            self.name(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails when elements are left over.
    fn finish(self) -> Result<(), PathError> {
        match self.parts.get(self.pos) {
            None => Ok(()),
            Some(extra) => Err(PathError::Extra {
                path: self.input.to_owned(),
                unit: self.unit,
                position: self.pos + 1,
                found: (*extra).to_owned(),
            }),
        }
    }
}

/// Whether `s` is a table version: 32 lowercase hex digits (the table UUID without dashes).
pub fn is_table_version(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `task_<task>_tag_<tag>_<suffix>`, the file name shape of manifests and schema files.
fn task_tag_file_name(task: Uuid, tag: &SnapshotTag, suffix: &str) -> String {
    format!("task_{task}_tag_{tag}_{suffix}")
}

/// Parses a `task_<task>_tag_<tag>_<suffix>` file name whose suffix must be one of `suffixes`;
/// returns the task, the tag and the index of the suffix.
fn parse_task_tag_file_name(
    path: &str,
    name: &str,
    suffixes: &[&str],
) -> Result<(Uuid, SnapshotTag, usize), PathError> {
    let mut parts = Elements::file_name(path, name, 6);
    parts.literal(&["task"])?;
    let task = parts.uuid("the task ID")?;
    parts.literal(&["tag"])?;
    let tag = parts.tag()?;
    let suffix = parts.literal(suffixes)?;
    Ok((task, tag, suffix))
}

/// `backup/<kind>/cluster/<cluster>`, the root of one cluster's meta, schema or sst tree.
fn cluster_dir(kind: &str, cluster: Uuid) -> String {
    format!("backup/{kind}/cluster/{cluster}")
}

/// Consumes `backup/<kind>/cluster/<cluster>` and returns the cluster ID.
fn parse_cluster_dir(el: &mut Elements<'_>, kind: &str) -> Result<Uuid, PathError> {
    el.literal(&["backup"])?;
    el.literal(&[kind])?;
    el.literal(&["cluster"])?;
    el.uuid("the cluster ID")
}

/// Consumes `dc/<dc>/node/<node>` and returns the DC and node ID.
fn parse_dc_node(el: &mut Elements<'_>) -> Result<(String, String), PathError> {
    el.literal(&["dc"])?;
    let dc = el.name("the DC name")?;
    el.literal(&["node"])?;
    let node = el.name("the node ID")?;
    Ok((dc, node))
}

/// `backup/meta/cluster/<cluster>/dc`: the dir listing the DCs that hold manifests.
pub fn remote_meta_cluster_dc_dir(cluster: Uuid) -> String {
    format!("{}/dc", cluster_dir("meta", cluster))
}

/// `backup/meta/cluster/<cluster>/lease.json`: the lease of whoever writes or purges the
/// cluster's backups in a location (DESIGN.md invariant 9).
pub fn remote_lease_file(cluster: Uuid) -> String {
    format!("{}/lease.json", cluster_dir("meta", cluster))
}

/// `backup/meta/cluster/<cluster>/dc/<dc>/node/<node>`: one node's manifest dir.
pub fn remote_meta_node_dir(cluster: Uuid, dc: &str, node: &str) -> String {
    format!("{}/{dc}/node/{node}", remote_meta_cluster_dc_dir(cluster))
}

/// The final path of a node manifest for one snapshot of one task.
pub fn remote_manifest_file(
    cluster: Uuid,
    task: Uuid,
    tag: &SnapshotTag,
    dc: &str,
    node: &str,
) -> String {
    format!(
        "{}/{}",
        remote_meta_node_dir(cluster, dc, node),
        task_tag_file_name(task, tag, MANIFEST_SUFFIX)
    )
}

/// The temporary name of `path`: `path` + `.tmp`.
pub fn temp_file(path: &str) -> String {
    format!("{path}{TEMP_FILE_EXT}")
}

/// `backup/schema/cluster/<cluster>`: the dir of one cluster's schema files.
pub fn remote_schema_dir(cluster: Uuid) -> String {
    cluster_dir("schema", cluster)
}

/// The CQL schema file (`..._schema_with_internals.json.gz`) of one snapshot.
pub fn remote_schema_file(cluster: Uuid, task: Uuid, tag: &SnapshotTag) -> String {
    SchemaKind::WithInternals.path(cluster, task, tag)
}

/// The legacy "unsafe" schema archive (`..._schema.tar.gz`) of one snapshot.
pub fn remote_unsafe_schema_file(cluster: Uuid, task: Uuid, tag: &SnapshotTag) -> String {
    SchemaKind::Unsafe.path(cluster, task, tag)
}

/// The Alternator schema file (`..._alternator_schema.json.gz`) of one snapshot.
pub fn remote_alternator_schema_file(cluster: Uuid, task: Uuid, tag: &SnapshotTag) -> String {
    SchemaKind::Alternator.path(cluster, task, tag)
}

/// `backup/sst/cluster/<cluster>/dc/<dc>/node/<node>`: one node's SSTable tree.
pub fn remote_sstable_base_dir(cluster: Uuid, dc: &str, node: &str) -> String {
    format!("{}/dc/{dc}/node/{node}", cluster_dir("sst", cluster))
}

/// `<sstable base dir>/keyspace/<ks>/table/<table>`: one table's dir on one node.
pub fn remote_sstable_dir(
    cluster: Uuid,
    dc: &str,
    node: &str,
    keyspace: &str,
    table: &str,
) -> String {
    format!(
        "{}/keyspace/{keyspace}/table/{table}",
        remote_sstable_base_dir(cluster, dc, node)
    )
}

/// `<sstable dir>/<version>`: one table version's files on one node, the deduplication scope.
pub fn remote_sstable_version_dir(
    cluster: Uuid,
    dc: &str,
    node: &str,
    keyspace: &str,
    table: &str,
    version: &str,
) -> String {
    format!(
        "{}/{version}",
        remote_sstable_dir(cluster, dc, node, keyspace, table)
    )
}

/// `tag_<tag>_node_<node>_manifest.json`: the name Scylla's per-table manifest is uploaded as.
pub fn scylla_manifest_name(tag: &SnapshotTag, node: &str) -> String {
    format!("tag_{tag}_node_{node}_{SCYLLA_MANIFEST}")
}

/// Parses a name built by [`scylla_manifest_name`] into the snapshot tag and node ID.
pub fn parse_scylla_manifest_name(name: &str) -> Result<(SnapshotTag, String), PathError> {
    let mut parts = Elements::file_name(name, name, 5);
    parts.literal(&["tag"])?;
    let tag = parts.tag()?;
    parts.literal(&["node"])?;
    let rest = parts.next("the node ID followed by _manifest.json")?;
    let node = rest
        .strip_suffix(SCYLLA_MANIFEST)
        .and_then(|n| n.strip_suffix('_'))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| parts.unexpected(rest, "the node ID followed by _manifest.json"))?;
    Ok((tag, node.to_owned()))
}

/// Identity of one node manifest, as encoded in its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManifestInfo {
    /// The cluster the backup belongs to.
    pub cluster_id: Uuid,
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// The backup task that took the snapshot.
    pub task_id: Uuid,
    /// The snapshot the manifest describes.
    pub snapshot_tag: SnapshotTag,
    /// Whether the manifest still has its `.tmp` suffix (the snapshot is not committed).
    pub temporary: bool,
}

impl ManifestInfo {
    /// Parses a manifest path built by [`ManifestInfo::path`] (or [`remote_manifest_file`],
    /// possibly with [`temp_file`]).
    pub fn parse(path: &str) -> Result<ManifestInfo, PathError> {
        let mut el = Elements::path(path);
        let cluster_id = parse_cluster_dir(&mut el, "meta")?;
        let (dc, node_id) = parse_dc_node(&mut el)?;
        let name = el.next("the manifest file name")?;
        el.finish()?;
        let manifest_tmp = temp_file(MANIFEST_SUFFIX);
        let (task_id, snapshot_tag, suffix) =
            parse_task_tag_file_name(path, name, &[MANIFEST_SUFFIX, &manifest_tmp])?;
        let temporary = suffix == 1;
        Ok(ManifestInfo {
            cluster_id,
            dc,
            node_id,
            task_id,
            snapshot_tag,
            temporary,
        })
    }

    /// The manifest's path, with `.tmp` when temporary.
    pub fn path(&self) -> String {
        let p = remote_manifest_file(
            self.cluster_id,
            self.task_id,
            &self.snapshot_tag,
            &self.dc,
            &self.node_id,
        );
        if self.temporary { temp_file(&p) } else { p }
    }

    /// The CQL schema file of the manifest's snapshot.
    pub fn schema_path(&self) -> String {
        remote_schema_file(self.cluster_id, self.task_id, &self.snapshot_tag)
    }

    /// The node's SSTable dir of one table version.
    pub fn sstable_version_dir(&self, keyspace: &str, table: &str, version: &str) -> String {
        remote_sstable_version_dir(
            self.cluster_id,
            &self.dc,
            &self.node_id,
            keyspace,
            table,
            version,
        )
    }
}

/// Which of the per-snapshot schema files a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaKind {
    /// `schema_with_internals.json.gz`: CQL from `DESCRIBE SCHEMA WITH INTERNALS`, used by restore.
    WithInternals,
    /// `schema.tar.gz`: the legacy "unsafe" per-keyspace schema archive.
    Unsafe,
    /// `alternator_schema.json.gz`: the Alternator tables' schema.
    Alternator,
}

impl SchemaKind {
    /// Every kind, in declaration order.
    pub const ALL: [SchemaKind; 3] = [
        SchemaKind::WithInternals,
        SchemaKind::Unsafe,
        SchemaKind::Alternator,
    ];

    /// The file name suffix after `task_<task>_tag_<tag>_`.
    pub fn suffix(self) -> &'static str {
        match self {
            SchemaKind::WithInternals => SCHEMA_SUFFIX,
            SchemaKind::Unsafe => UNSAFE_SCHEMA_SUFFIX,
            SchemaKind::Alternator => ALTERNATOR_SCHEMA_SUFFIX,
        }
    }

    /// The path of this kind of schema file for one snapshot.
    fn path(self, cluster: Uuid, task: Uuid, tag: &SnapshotTag) -> String {
        format!(
            "{}/{}",
            remote_schema_dir(cluster),
            task_tag_file_name(task, tag, self.suffix())
        )
    }
}

/// Identity of one schema file, as encoded in its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaFileInfo {
    /// The cluster the backup belongs to.
    pub cluster_id: Uuid,
    /// The backup task that took the snapshot.
    pub task_id: Uuid,
    /// The snapshot the schema belongs to.
    pub snapshot_tag: SnapshotTag,
    /// Which schema file this is.
    pub kind: SchemaKind,
}

impl SchemaFileInfo {
    /// Parses a schema file path built by [`SchemaFileInfo::path`].
    pub fn parse(path: &str) -> Result<SchemaFileInfo, PathError> {
        let mut el = Elements::path(path);
        let cluster_id = parse_cluster_dir(&mut el, "schema")?;
        let name = el.next("the schema file name")?;
        el.finish()?;
        let suffixes = SchemaKind::ALL.map(SchemaKind::suffix);
        let (task_id, snapshot_tag, suffix) = parse_task_tag_file_name(path, name, &suffixes)?;
        let kind = SchemaKind::ALL[suffix];
        Ok(SchemaFileInfo {
            cluster_id,
            task_id,
            snapshot_tag,
            kind,
        })
    }

    /// The schema file's path.
    pub fn path(&self) -> String {
        self.kind
            .path(self.cluster_id, self.task_id, &self.snapshot_tag)
    }
}

/// Identity of one node's SSTable dir for one table version, as encoded in its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SSTableDirInfo {
    /// The cluster the backup belongs to.
    pub cluster_id: Uuid,
    /// The node's DC.
    pub dc: String,
    /// The node's host ID.
    pub node_id: String,
    /// The table's keyspace.
    pub keyspace: String,
    /// The table name.
    pub table: String,
    /// The table version: 32 lowercase hex digits.
    pub version: String,
}

impl SSTableDirInfo {
    /// Parses a version dir built by [`SSTableDirInfo::path`], or the path of a file directly
    /// inside it, in which case the file name is returned too.
    pub fn parse(path: &str) -> Result<(SSTableDirInfo, Option<String>), PathError> {
        let mut el = Elements::path(path);
        let cluster_id = parse_cluster_dir(&mut el, "sst")?;
        let (dc, node_id) = parse_dc_node(&mut el)?;
        el.literal(&["keyspace"])?;
        let keyspace = el.name("the keyspace name")?;
        el.literal(&["table"])?;
        let table = el.name("the table name")?;
        let version = el.table_version()?;
        let file = el.optional_name("the file name")?;
        el.finish()?;
        let info = SSTableDirInfo {
            cluster_id,
            dc,
            node_id,
            keyspace,
            table,
            version,
        };
        Ok((info, file))
    }

    /// The version dir's path.
    pub fn path(&self) -> String {
        remote_sstable_version_dir(
            self.cluster_id,
            &self.dc,
            &self.node_id,
            &self.keyspace,
            &self.table,
            &self.version,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CLUSTER: &str = "f840add7-e01a-41ac-bda6-016b1c5d9222";
    const NODE: &str = "f141217b-36b4-47cc-9020-934e25de235e";
    const TASK: &str = "69537b2c-ceea-490f-bf3c-2f99eef46a08";
    const TAG: &str = "sm_20210602083539UTC";
    const VERSION: &str = "80f329c0c37d11ebab66000000000000";

    fn ids() -> (Uuid, Uuid, SnapshotTag) {
        (
            CLUSTER.parse().unwrap(),
            TASK.parse().unwrap(),
            TAG.parse().unwrap(),
        )
    }

    #[test]
    fn builders_match_the_upstream_layout() {
        let (c, t, tag) = ids();
        assert_eq!(
            remote_manifest_file(c, t, &tag, "dc1", NODE),
            format!(
                "backup/meta/cluster/{CLUSTER}/dc/dc1/node/{NODE}/task_{TASK}_tag_{TAG}_manifest.json.gz"
            )
        );
        assert_eq!(temp_file("a/b.json.gz"), "a/b.json.gz.tmp");
        assert_eq!(
            remote_meta_cluster_dc_dir(c),
            format!("backup/meta/cluster/{CLUSTER}/dc")
        );
        assert_eq!(
            remote_meta_node_dir(c, "dc1", NODE),
            format!("backup/meta/cluster/{CLUSTER}/dc/dc1/node/{NODE}")
        );
        assert_eq!(
            remote_schema_file(c, t, &tag),
            format!(
                "backup/schema/cluster/{CLUSTER}/task_{TASK}_tag_{TAG}_schema_with_internals.json.gz"
            )
        );
        assert_eq!(
            remote_unsafe_schema_file(c, t, &tag),
            format!("backup/schema/cluster/{CLUSTER}/task_{TASK}_tag_{TAG}_schema.tar.gz")
        );
        assert_eq!(
            remote_alternator_schema_file(c, t, &tag),
            format!(
                "backup/schema/cluster/{CLUSTER}/task_{TASK}_tag_{TAG}_alternator_schema.json.gz"
            )
        );
        assert_eq!(
            remote_sstable_base_dir(c, "dc1", NODE),
            format!("backup/sst/cluster/{CLUSTER}/dc/dc1/node/{NODE}")
        );
        assert_eq!(
            remote_sstable_version_dir(c, "dc1", NODE, "ks", "tb", VERSION),
            format!(
                "backup/sst/cluster/{CLUSTER}/dc/dc1/node/{NODE}/keyspace/ks/table/tb/{VERSION}"
            )
        );
        assert_eq!(
            scylla_manifest_name(&tag, NODE),
            format!("tag_{TAG}_node_{NODE}_manifest.json")
        );
    }

    #[test]
    fn parses_a_manifest_path() {
        let p = format!(
            "backup/meta/cluster/{CLUSTER}/dc/dc1/node/{NODE}/task_{TASK}_tag_{TAG}_manifest.json.gz"
        );
        let m = ManifestInfo::parse(&p).unwrap();
        assert_eq!(m.cluster_id.to_string(), CLUSTER);
        assert_eq!(m.dc, "dc1");
        assert_eq!(m.node_id, NODE);
        assert_eq!(m.task_id.to_string(), TASK);
        assert_eq!(m.snapshot_tag.as_str(), TAG);
        assert!(!m.temporary);
        assert_eq!(m.path(), p);
        assert_eq!(
            m.schema_path(),
            remote_schema_file(m.cluster_id, m.task_id, &m.snapshot_tag)
        );

        let tmp = ManifestInfo::parse(&temp_file(&p)).unwrap();
        assert!(tmp.temporary);
        assert_eq!(tmp.path(), temp_file(&p));

        // A leading or trailing slash is tolerated.
        assert_eq!(ManifestInfo::parse(&format!("/{p}")).unwrap(), m);
    }

    #[test]
    fn manifest_parse_errors_name_the_element() {
        let good = format!(
            "backup/meta/cluster/{CLUSTER}/dc/dc1/node/{NODE}/task_{TASK}_tag_{TAG}_manifest.json.gz"
        );
        let e = ManifestInfo::parse(&good.replace("/meta/", "/sst/")).unwrap_err();
        assert!(
            matches!(&e, PathError::Unexpected { position: 2, found, .. } if found == "sst"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains(r#"element 2 is "sst" (expected "meta")"#),
            "{e}"
        );

        let e = ManifestInfo::parse(&good.replace(CLUSTER, "not-a-uuid")).unwrap_err();
        assert!(
            e.to_string()
                .contains("the cluster ID, a lowercase hyphenated UUID"),
            "{e}"
        );
        let e = ManifestInfo::parse(&good.replace(CLUSTER, &CLUSTER.to_uppercase())).unwrap_err();
        assert!(
            matches!(e, PathError::Unexpected { position: 4, .. }),
            "{e}"
        );
        let e = ManifestInfo::parse(&good.replace(CLUSTER, &CLUSTER.replace('-', ""))).unwrap_err();
        assert!(
            matches!(e, PathError::Unexpected { position: 4, .. }),
            "{e}"
        );

        let e = ManifestInfo::parse(&format!("backup/meta/cluster/{CLUSTER}/dc/dc1")).unwrap_err();
        assert!(matches!(e, PathError::Missing { position: 7, .. }), "{e}");

        let e = ManifestInfo::parse(&format!("{good}/x")).unwrap_err();
        assert!(matches!(e, PathError::Extra { position: 10, .. }), "{e}");

        let e = ManifestInfo::parse(&good.replace(TASK, "zz")).unwrap_err();
        assert!(
            matches!(
                &e,
                PathError::Unexpected {
                    unit: "file name part",
                    position: 2,
                    ..
                }
            ),
            "{e}"
        );

        let e = ManifestInfo::parse(&good.replace("20210602083539", "20211302083539")).unwrap_err();
        assert!(e.to_string().contains("YYYYMMDDhhmmssUTC"), "{e}");

        let e =
            ManifestInfo::parse(&good.replace("manifest.json.gz", "manifest.json")).unwrap_err();
        assert!(
            e.to_string()
                .contains(r#"(expected "manifest.json.gz" or "manifest.json.gz.tmp")"#),
            "{e}"
        );

        let e = ManifestInfo::parse(&good.replace("/dc1/", "//")).unwrap_err();
        assert!(
            e.to_string().contains("the DC name, a non-empty name"),
            "{e}"
        );

        let e = ManifestInfo::parse(&good.replace("_tag_", "_tug_")).unwrap_err();
        assert!(e.to_string().contains(r#"expected "tag""#), "{e}");

        let e = ManifestInfo::parse(&good.replace("_manifest.json.gz", "")).unwrap_err();
        assert!(matches!(e, PathError::Missing { position: 6, .. }), "{e}");
    }

    #[test]
    fn schema_files_parse() {
        let (c, t, tag) = ids();
        for (kind, path) in [
            (SchemaKind::WithInternals, remote_schema_file(c, t, &tag)),
            (SchemaKind::Unsafe, remote_unsafe_schema_file(c, t, &tag)),
            (
                SchemaKind::Alternator,
                remote_alternator_schema_file(c, t, &tag),
            ),
        ] {
            let info = SchemaFileInfo::parse(&path).unwrap();
            assert_eq!(
                info,
                SchemaFileInfo {
                    cluster_id: c,
                    task_id: t,
                    snapshot_tag: tag.clone(),
                    kind
                }
            );
            assert_eq!(info.path(), path);
        }
        let bad = remote_schema_file(c, t, &tag).replace("schema_with_internals", "schema_x");
        let e = SchemaFileInfo::parse(&bad).unwrap_err();
        assert!(e.to_string().contains(r#""schema_x.json.gz""#), "{e}");
        let bad = remote_schema_file(c, t, &tag).replace("/schema/", "/meta/");
        assert!(SchemaFileInfo::parse(&bad).is_err());
    }

    #[test]
    fn sstable_dirs_and_files_parse() {
        let (c, _, _) = ids();
        let dir = remote_sstable_version_dir(c, "dc1", NODE, "ks", "tb", VERSION);
        let (info, file) = SSTableDirInfo::parse(&dir).unwrap();
        assert_eq!(file, None);
        assert_eq!(info.keyspace, "ks");
        assert_eq!(info.table, "tb");
        assert_eq!(info.version, VERSION);
        assert_eq!(info.path(), dir);
        assert_eq!(SSTableDirInfo::parse(&format!("{dir}/")).unwrap().1, None);

        let (info2, file) = SSTableDirInfo::parse(&format!(
            "{dir}/me-3ggs_0xmx_3261s2qpoyoxpg4min-big-Data.db"
        ))
        .unwrap();
        assert_eq!(info2, info);
        assert_eq!(
            file.as_deref(),
            Some("me-3ggs_0xmx_3261s2qpoyoxpg4min-big-Data.db")
        );

        let e = SSTableDirInfo::parse(&format!("{dir}/a/b")).unwrap_err();
        assert!(
            matches!(&e, PathError::Extra { position: 15, found, .. } if found == "b"),
            "{e}"
        );
        let e = SSTableDirInfo::parse(&format!("{dir}//x")).unwrap_err();
        assert!(e.to_string().contains("the file name"), "{e}");

        let e = SSTableDirInfo::parse(&dir.replace(VERSION, "80F329C0C37D11EBAB66000000000000"))
            .unwrap_err();
        assert!(e.to_string().contains("32 lowercase hex digits"), "{e}");
    }

    #[test]
    fn scylla_manifest_names_parse() {
        let (_, _, tag) = ids();
        let name = scylla_manifest_name(&tag, NODE);
        assert_eq!(
            parse_scylla_manifest_name(&name).unwrap(),
            (tag.clone(), NODE.to_owned())
        );
        // Node IDs with underscores survive.
        let name = scylla_manifest_name(&tag, "a_b");
        assert_eq!(parse_scylla_manifest_name(&name).unwrap().1, "a_b");
        assert!(
            parse_scylla_manifest_name("tag_sm_20210602083539UTC_node__manifest.json").is_err()
        );
        assert!(parse_scylla_manifest_name("manifest.json").is_err());
        assert!(parse_scylla_manifest_name(&format!("tag_{TAG}_node_{NODE}_schema.cql")).is_err());
    }

    #[test]
    fn table_versions() {
        assert!(is_table_version(VERSION));
        assert!(!is_table_version(&VERSION[1..]));
        assert!(!is_table_version(&VERSION.replace('f', "g")));
        assert!(!is_table_version(&VERSION.to_uppercase()));
    }

    fn arb_uuid() -> impl Strategy<Value = Uuid> {
        any::<u128>().prop_map(Uuid::from_u128)
    }

    fn arb_tag() -> impl Strategy<Value = SnapshotTag> {
        (0i64..253_402_300_799)
            .prop_map(|s| SnapshotTag::from_time(chrono::DateTime::from_timestamp(s, 0).unwrap()))
    }

    /// Names as they occur: letters, digits, `_`, `-`, `.`; never `.` or `..` alone.
    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,15}"
    }

    fn arb_version() -> impl Strategy<Value = String> {
        "[0-9a-f]{32}"
    }

    proptest! {
        #[test]
        fn manifest_paths_round_trip(
            cluster_id in arb_uuid(), task_id in arb_uuid(), snapshot_tag in arb_tag(),
            dc in arb_name(), node_id in arb_name(), temporary in any::<bool>(),
        ) {
            let info = ManifestInfo { cluster_id, dc, node_id, task_id, snapshot_tag, temporary };
            let mut p = remote_manifest_file(
                info.cluster_id, info.task_id, &info.snapshot_tag, &info.dc, &info.node_id,
            );
            if temporary {
                p = temp_file(&p);
            }
            prop_assert_eq!(&info.path(), &p);
            prop_assert!(p.starts_with(&remote_meta_node_dir(info.cluster_id, &info.dc, &info.node_id)));
            prop_assert!(p.starts_with(&remote_meta_cluster_dc_dir(info.cluster_id)));
            prop_assert_eq!(ManifestInfo::parse(&p).unwrap(), info);
        }

        #[test]
        fn schema_paths_round_trip(
            cluster_id in arb_uuid(), task_id in arb_uuid(), snapshot_tag in arb_tag(),
            kind in proptest::sample::select(SchemaKind::ALL.to_vec()),
        ) {
            let info = SchemaFileInfo { cluster_id, task_id, snapshot_tag, kind };
            let p = match kind {
                SchemaKind::WithInternals => remote_schema_file(cluster_id, task_id, &info.snapshot_tag),
                SchemaKind::Unsafe => remote_unsafe_schema_file(cluster_id, task_id, &info.snapshot_tag),
                SchemaKind::Alternator => remote_alternator_schema_file(cluster_id, task_id, &info.snapshot_tag),
            };
            prop_assert_eq!(&info.path(), &p);
            prop_assert!(p.starts_with(&remote_schema_dir(cluster_id)));
            prop_assert_eq!(SchemaFileInfo::parse(&p).unwrap(), info);
        }

        #[test]
        fn sstable_paths_round_trip(
            cluster_id in arb_uuid(), dc in arb_name(), node_id in arb_name(),
            keyspace in arb_name(), table in arb_name(), version in arb_version(),
            file in proptest::option::of(arb_name()),
        ) {
            let info = SSTableDirInfo { cluster_id, dc, node_id, keyspace, table, version };
            let dir = remote_sstable_version_dir(
                cluster_id, &info.dc, &info.node_id, &info.keyspace, &info.table, &info.version,
            );
            prop_assert_eq!(&info.path(), &dir);
            prop_assert!(dir.starts_with(&remote_sstable_base_dir(cluster_id, &info.dc, &info.node_id)));
            prop_assert!(dir.starts_with(&remote_sstable_dir(
                cluster_id, &info.dc, &info.node_id, &info.keyspace, &info.table,
            )));
            let p = match &file {
                Some(f) => format!("{dir}/{f}"),
                None => dir.clone(),
            };
            prop_assert_eq!(SSTableDirInfo::parse(&p).unwrap(), (info, file));
        }

        #[test]
        fn scylla_manifest_names_round_trip(tag in arb_tag(), node in arb_name()) {
            let name = scylla_manifest_name(&tag, &node);
            prop_assert_eq!(parse_scylla_manifest_name(&name).unwrap(), (tag, node));
        }

        #[test]
        fn parsers_never_panic(s in "[a-z0-9/_.-]{0,80}") {
            let _ = ManifestInfo::parse(&s);
            let _ = SchemaFileInfo::parse(&s);
            let _ = SSTableDirInfo::parse(&s);
            let _ = parse_scylla_manifest_name(&s);
        }
    }
}
