//! The v2 node manifest: one gzip-compressed JSON object per node per snapshot, listing every
//! table dir the snapshot holds on that node.
//!
//! The object holds the [`ManifestContent`] header fields and an `index` array of [`FilesMeta`]
//! entries. Small manifests are read and written whole as a [`Manifest`]. Manifests of clusters
//! with very many tables are never held whole: [`stream_index`] hands each index entry to a
//! callback as it is parsed (the `index` key may appear anywhere in the object), and
//! [`ManifestWriter`] writes the header and then one entry at a time.
//!
//! Writers produce exactly what upstream's Go `json.Encoder` produces for the same values: the
//! header fields in upstream order, then `index`, compact, with `<`, `>`, `&`, U+2028 and U+2029
//! escaped, and a trailing newline. Readers accept what upstream writes: unknown fields are
//! ignored, absent fields take their defaults, and Go's `null` for an empty list reads as empty.
//! Like upstream, which decodes them as plain strings, readers are lenient about values they do
//! not know: any `version` (or none) is read and kept in [`ManifestContent::version`] for the
//! caller to judge ([`ManifestContent::is_known_version`]), and an unknown `replication_type` is
//! kept as [`ReplicationType::Other`] and written back unchanged.

use std::fmt;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::str::FromStr;

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

use crate::format::location::serde_as_string;
use crate::format::tag::SnapshotTag;

/// The manifest version this crate writes, and the only one whose layout it knows.
pub const MANIFEST_VERSION: &str = "v2";

/// What reading or writing a manifest found wrong.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading or writing the underlying stream failed, including a broken gzip stream.
    #[error("manifest I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The content is not the expected JSON; the message carries the line and column.
    #[error("malformed manifest JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl From<serde_json::Error> for ManifestError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() {
            ManifestError::Io(e.into())
        } else {
            ManifestError::Json(e)
        }
    }
}

/// Reads a value whose `null` means its default (Go writes `null` for nil slices).
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a string-typed optional value where `null` and `""` mean `None`.
fn empty_as_none<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(de::Error::custom),
    }
}

/// Writes `None` as `""`, the way Go writes an unset string field.
fn none_as_empty<S: Serializer, T: fmt::Display>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_str(""),
    }
}

/// Reads a UUID where `null` and `""` mean the nil UUID.
fn nil_uuid_if_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    Ok(empty_as_none::<D, Uuid>(d)?.unwrap_or_default())
}

/// The machine a node runs on, when known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InstanceDetails {
    /// Cloud provider name, e.g. `aws`; omitted when empty.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub cloud_provider: String,
    /// Instance type, e.g. `i4i.xlarge`; omitted when empty.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub instance_type: String,
}

/// The header of a node manifest: everything but the index, in upstream serialisation order.
///
/// Every field is optional on input. [`Default`] gives an empty header with version `"v2"`;
/// a field absent from JSON reads as empty (an absent `version` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestContent {
    /// Manifest format version: `"v2"` as written; whatever the manifest holds as read.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// Scylla version of the node, from `node_info`.
    #[serde(default, deserialize_with = "nullable")]
    pub scylla_version: String,
    /// Cluster name as registered by the backup tool.
    #[serde(default, deserialize_with = "nullable")]
    pub cluster_name: String,
    /// Node address as the backup tool sees it.
    #[serde(default, deserialize_with = "nullable")]
    pub ip: String,
    /// Sum of the index entries' sizes, in bytes.
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    /// The node's vnode tokens, as signed 64-bit JSON numbers.
    #[serde(default, deserialize_with = "nullable")]
    pub tokens: Vec<i64>,
    /// Path of the snapshot's schema file relative to the bucket root; empty when skipped.
    #[serde(default, deserialize_with = "nullable")]
    pub schema: String,
    /// The node's rack.
    #[serde(default, deserialize_with = "nullable")]
    pub rack: String,
    /// Number of Scylla shards on the node.
    #[serde(default, deserialize_with = "nullable")]
    pub shard_count: u32,
    /// Number of CPUs of the node, from `node_info`.
    #[serde(default, deserialize_with = "nullable")]
    pub cpu_count: u32,
    /// Storage size of the node in bytes, from `node_info`.
    #[serde(default, deserialize_with = "nullable")]
    pub storage_size: u64,
    /// Cloud details of the node's machine.
    #[serde(default, deserialize_with = "nullable")]
    pub instance_details: InstanceDetails,
    /// The node's DC (also in the manifest path).
    #[serde(default, deserialize_with = "nullable")]
    pub dc: String,
    /// The cluster ID (also in the manifest path); nil when absent.
    #[serde(default, deserialize_with = "nil_uuid_if_empty")]
    pub cluster_id: Uuid,
    /// The node's host ID (also in the manifest path).
    #[serde(default, deserialize_with = "nullable")]
    pub node_id: String,
    /// The backup task ID (also in the manifest path); nil when absent.
    #[serde(default, deserialize_with = "nil_uuid_if_empty")]
    pub task_id: Uuid,
    /// The snapshot tag (also in the manifest path); `None` when absent, written as `""`.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        serialize_with = "none_as_empty"
    )]
    pub snapshot_tag: Option<SnapshotTag>,
}

impl Default for ManifestContent {
    fn default() -> Self {
        ManifestContent {
            version: MANIFEST_VERSION.to_owned(),
            scylla_version: String::new(),
            cluster_name: String::new(),
            ip: String::new(),
            size: 0,
            tokens: Vec::new(),
            schema: String::new(),
            rack: String::new(),
            shard_count: 0,
            cpu_count: 0,
            storage_size: 0,
            instance_details: InstanceDetails::default(),
            dc: String::new(),
            cluster_id: Uuid::nil(),
            node_id: String::new(),
            task_id: Uuid::nil(),
            snapshot_tag: None,
        }
    }
}

impl ManifestContent {
    /// Whether the version is `"v2"`, the one layout this crate knows; a reader of another (or
    /// of none) decides what to do with it (Cairn's readers warn and read it as v2, as upstream
    /// reads any version).
    pub fn is_known_version(&self) -> bool {
        self.version == MANIFEST_VERSION
    }
}

/// How a table's keyspace distributes its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplicationType {
    /// Token ranges owned through vnodes.
    Vnodes,
    /// Tablets.
    Tablets,
    /// A value this crate does not know (a newer writer's), kept as read and written back as is;
    /// only code that must act on the type decides what it means.
    Other(String),
}

impl ReplicationType {
    /// The JSON text: `vnodes`, `tablets`, or the unknown value as read.
    pub fn as_str(&self) -> &str {
        match self {
            ReplicationType::Vnodes => "vnodes",
            ReplicationType::Tablets => "tablets",
            ReplicationType::Other(s) => s,
        }
    }
}

impl fmt::Display for ReplicationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReplicationType {
    type Err = std::convert::Infallible;

    /// Never fails: a value other than `vnodes` or `tablets` is [`ReplicationType::Other`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "vnodes" => ReplicationType::Vnodes,
            "tablets" => ReplicationType::Tablets,
            other => ReplicationType::Other(other.to_owned()),
        })
    }
}

serde_as_string!(ReplicationType, "a replication type (a string)");

/// One index entry: the files of one table version in the snapshot of one node.
///
/// Fields are written in upstream order (`replication_type` after `table`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesMeta {
    /// The table's keyspace.
    #[serde(default, deserialize_with = "nullable")]
    pub keyspace: String,
    /// The table name.
    #[serde(default, deserialize_with = "nullable")]
    pub table: String,
    /// The keyspace's replication type; omitted when unknown.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub replication_type: Option<ReplicationType>,
    /// The table version: 32 lowercase hex digits.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// Every SSTable component file of the snapshot, uploaded now or earlier.
    #[serde(default, deserialize_with = "nullable")]
    pub files: Vec<String>,
    /// Sum of the files' sizes, in bytes.
    #[serde(default, deserialize_with = "nullable")]
    pub size: i64,
    /// The renamed Scylla per-table manifests stored next to the files; omitted when empty.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub scylla_manifests: Vec<String>,
    /// The version dir's path; only filled in API responses, omitted when `None`.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub path: Option<String>,
}

/// A whole node manifest, for manifests small enough to hold in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The header fields.
    #[serde(flatten)]
    pub content: ManifestContent,
    /// The index entries, in file order.
    pub index: Vec<FilesMeta>,
}

impl Manifest {
    /// Reads a manifest from plain JSON.
    pub fn read_json(reader: impl Read) -> Result<Manifest, ManifestError> {
        let mut index = Vec::new();
        let content = stream_index_json(reader, |e| {
            index.push(e);
            Ok::<(), ManifestError>(())
        })?;
        Ok(Manifest { content, index })
    }

    /// Reads a manifest from gzip-compressed JSON.
    pub fn read_gzip(reader: impl Read) -> Result<Manifest, ManifestError> {
        Manifest::read_json(MultiGzDecoder::new(reader))
    }

    /// Writes the manifest as JSON, header fields then `index`, with a trailing newline.
    pub fn write_json(&self, writer: impl Write) -> Result<(), ManifestError> {
        let mut w = BufWriter::new(writer);
        write_go_json(&mut w, self)?;
        w.write_all(b"\n")?;
        w.flush()?;
        Ok(())
    }

    /// Writes the manifest as gzip-compressed JSON, as [`Manifest::write_json`] inside gzip.
    pub fn write_gzip(&self, writer: impl Write) -> Result<(), ManifestError> {
        let mut gz = GzEncoder::new(writer, Compression::default());
        self.write_json(&mut gz)?;
        gz.finish()?;
        Ok(())
    }
}

/// Reads a gzip-compressed manifest, handing each index entry to `on_entry` as soon as it is
/// parsed, and returns the header.
///
/// Memory stays bounded by one entry whatever the index size. Any `version` is read (see
/// [`ManifestContent::is_known_version`]). An error from `on_entry` stops reading and is
/// returned as is.
pub fn stream_index<R, F, E>(reader: R, on_entry: F) -> Result<ManifestContent, E>
where
    R: Read,
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    stream_index_json(MultiGzDecoder::new(reader), on_entry)
}

/// Like [`stream_index`], for a manifest that is plain JSON.
pub fn stream_index_json<R, F, E>(reader: R, on_entry: F) -> Result<ManifestContent, E>
where
    R: Read,
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    let mut sink = Sink {
        on_entry,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(reader));
    let parsed = ManifestContent::deserialize(Intercept {
        inner: &mut de,
        sink: &mut sink,
    })
    .and_then(|content| de.end().map(|()| content));
    if let Some(failure) = sink.failure {
        return Err(failure);
    }
    Ok(parsed.map_err(ManifestError::from)?)
}

/// Where the streaming reader delivers what it meets, and the first failure it caused.
struct Sink<F, E> {
    /// The caller's per-entry callback.
    on_entry: F,
    /// The failure that stopped reading: the callback's error.
    failure: Option<E>,
}

impl<F, E> Sink<F, E>
where
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    /// Records a failure and returns the deserializer error that unwinds the parse.
    fn fail<X: de::Error>(&mut self, failure: E) -> X {
        self.failure = Some(failure);
        X::custom("manifest reading stopped")
    }

    /// Hands one entry to the callback.
    fn entry<X: de::Error>(&mut self, entry: FilesMeta) -> Result<(), X> {
        (self.on_entry)(entry).map_err(|e| self.fail(e))
    }
}

/// A deserializer that reads a JSON object through `inner`, diverting the `index` array into
/// `sink` entry by entry; every other field goes to the visitor (the derived `ManifestContent` one) with its position information intact.
struct Intercept<'s, D, S> {
    /// The JSON deserializer.
    inner: D,
    /// Receives the index entries.
    sink: &'s mut S,
}

impl<'de, D, F, E> Deserializer<'de> for Intercept<'_, D, Sink<F, E>>
where
    D: Deserializer<'de>,
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(InterceptVisitor {
            visitor,
            sink: self.sink,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

/// The visitor [`Intercept`] hands to the JSON deserializer: wraps the map access.
struct InterceptVisitor<'s, V, S> {
    /// The visitor of the header fields.
    visitor: V,
    /// Receives the index entries.
    sink: &'s mut S,
}

impl<'de, V, F, E> Visitor<'de> for InterceptVisitor<'_, V, Sink<F, E>>
where
    V: Visitor<'de>,
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a manifest JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(InterceptMap {
            inner: map,
            sink: self.sink,
        })
    }
}

/// The map access [`InterceptVisitor`] hands to the header visitor.
struct InterceptMap<'s, A, S> {
    /// The JSON object's map access.
    inner: A,
    /// Receives the index entries.
    sink: &'s mut S,
}

impl<'de, A, F, E> MapAccess<'de> for InterceptMap<'_, A, Sink<F, E>>
where
    A: MapAccess<'de>,
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.inner.next_key::<String>()? {
            if key == "index" {
                self.inner.next_value_seed(IndexSeed { sink: self.sink })?;
                continue;
            }
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

/// Reads the `index` value (an array, or `null`) into the sink.
struct IndexSeed<'s, S> {
    /// Receives the index entries.
    sink: &'s mut S,
}

impl<'de, F, E> DeserializeSeed<'de> for IndexSeed<'_, Sink<F, E>>
where
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, F, E> Visitor<'de> for IndexSeed<'_, Sink<F, E>>
where
    F: FnMut(FilesMeta) -> Result<(), E>,
    E: From<ManifestError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of index entries")
    }

    fn visit_none<X: de::Error>(self) -> Result<(), X> {
        Ok(())
    }

    fn visit_unit<X: de::Error>(self) -> Result<(), X> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<FilesMeta>()? {
            self.sink.entry(entry)?;
        }
        Ok(())
    }
}

/// A JSON formatter that writes strings the way Go's `encoding/json` does by default: on top of
/// the usual escapes, `<`, `>`, `&`, U+2028 and U+2029 are written as `\u` escapes.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as compact JSON, escaped as Go does.
fn write_go_json<W: Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), ManifestError> {
    let mut ser = serde_json::Serializer::with_formatter(writer, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(())
}

/// Writes a gzip-compressed manifest one index entry at a time.
///
/// The output is the same JSON [`Manifest::write_gzip`] writes for the same header and entries.
/// [`ManifestWriter::finish`] must be called: without it the JSON is left unterminated.
pub struct ManifestWriter<W: Write> {
    /// The buffered gzip stream.
    out: BufWriter<GzEncoder<W>>,
    /// How many entries have been written.
    entries: u64,
}

impl<W: Write> ManifestWriter<W> {
    /// Starts a manifest: writes the header fields of `content` and opens the index.
    pub fn new(writer: W, content: &ManifestContent) -> Result<Self, ManifestError> {
        let mut header = Vec::new();
        write_go_json(&mut header, content)?;
        // `header` is one JSON object; drop its closing brace so the index goes inside it.
        header.pop();
        let mut out = BufWriter::new(GzEncoder::new(writer, Compression::default()));
        out.write_all(&header)?;
        out.write_all(b",\"index\":[")?;
        Ok(ManifestWriter { out, entries: 0 })
    }

    /// Appends one index entry.
    pub fn write_entry(&mut self, entry: &FilesMeta) -> Result<(), ManifestError> {
        if self.entries > 0 {
            self.out.write_all(b",")?;
        }
        write_go_json(&mut self.out, entry)?;
        self.entries += 1;
        Ok(())
    }

    /// How many entries have been written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Closes the index, the object (with a trailing newline) and the gzip stream, and returns
    /// the underlying writer.
    pub fn finish(mut self) -> Result<W, ManifestError> {
        self.out.write_all(b"]}\n")?;
        let gz = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(gz.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use proptest::prelude::*;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    fn entry(ks: &str, table: &str, size: i64) -> FilesMeta {
        FilesMeta {
            keyspace: ks.into(),
            table: table.into(),
            version: "0123456789abcdef0123456789abcdef".into(),
            files: vec!["me-1-big-Data.db".into(), "me-1-big-TOC.txt".into()],
            size,
            ..FilesMeta::default()
        }
    }

    fn sample() -> Manifest {
        Manifest {
            content: ManifestContent {
                scylla_version: "2025.1.0".into(),
                cluster_name: "c<&>".into(),
                ip: "10.0.0.1".into(),
                size: 30,
                tokens: vec![i64::MIN, -1, 0, i64::MAX],
                rack: "r1".into(),
                dc: "dc1".into(),
                snapshot_tag: Some("sm_20240102030405UTC".parse().unwrap()),
                ..ManifestContent::default()
            },
            index: vec![entry("ks", "a", 10), entry("ks", "b", 20)],
        }
    }

    #[test]
    fn writes_fields_in_upstream_order() {
        let mut out = Vec::new();
        sample().write_json(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = concat!(
            r#"{"version":"v2","scylla_version":"2025.1.0","cluster_name":"c\u003c\u0026\u003e","#,
            r#""ip":"10.0.0.1","size":30,"tokens":[-9223372036854775808,-1,0,9223372036854775807],"#,
            r#""schema":"","rack":"r1","shard_count":0,"cpu_count":0,"storage_size":0,"#,
            r#""instance_details":{},"dc":"dc1","cluster_id":"00000000-0000-0000-0000-000000000000","#,
            r#""node_id":"","task_id":"00000000-0000-0000-0000-000000000000","#,
            r#""snapshot_tag":"sm_20240102030405UTC","index":["#,
            r#"{"keyspace":"ks","table":"a","version":"0123456789abcdef0123456789abcdef","#,
            r#""files":["me-1-big-Data.db","me-1-big-TOC.txt"],"size":10},"#,
            r#"{"keyspace":"ks","table":"b","version":"0123456789abcdef0123456789abcdef","#,
            r#""files":["me-1-big-Data.db","me-1-big-TOC.txt"],"size":20}]}"#,
            "\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn go_escapes() {
        let mut out = Vec::new();
        write_go_json(&mut out, "a<b>c&d\u{2028}e\u{2029}\"\\\n\u{1}é").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""a\u003cb\u003ec\u0026d\u2028e\u2029\"\\\n\u0001é""#
        );
    }

    #[test]
    fn optional_entry_fields() {
        let mut e = entry("ks", "t", 1);
        e.replication_type = Some(ReplicationType::Tablets);
        e.scylla_manifests = vec!["tag_sm_20240102030405UTC_node_n_manifest.json".into()];
        e.path = Some("backup/sst/x".into());
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.starts_with(r#"{"keyspace":"ks","table":"t","replication_type":"tablets","#));
        assert!(json.ends_with(
            r#""scylla_manifests":["tag_sm_20240102030405UTC_node_n_manifest.json"],"path":"backup/sst/x"}"#
        ));
        assert_eq!(serde_json::from_str::<FilesMeta>(&json).unwrap(), e);

        let e = serde_json::from_str::<FilesMeta>(
            r#"{"keyspace":"k","replication_type":"","files":null,"scylla_manifests":null,"path":"","x":1}"#,
        )
        .unwrap();
        assert_eq!(e.replication_type, None);
        assert!(e.files.is_empty() && e.scylla_manifests.is_empty());
        assert_eq!(e.path, None);

        // An unknown type is kept as read and written back unchanged; a wrong JSON type is not.
        let e: FilesMeta = serde_json::from_str(r#"{"replication_type":"future"}"#).unwrap();
        assert_eq!(
            e.replication_type,
            Some(ReplicationType::Other("future".into()))
        );
        let mut out = Vec::new();
        write_go_json(&mut out, &e).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(r#""replication_type":"future""#)
        );
        let err = serde_json::from_str::<FilesMeta>(r#"{"replication_type":7}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn index_may_come_anywhere_and_be_null() {
        let json = r#"{"index":[{"keyspace":"k","table":"t","size":5}],"version":"v2","size":5}"#;
        let m = Manifest::read_json(json.as_bytes()).unwrap();
        assert_eq!(m.index.len(), 1);
        assert_eq!(m.content.size, 5);
        let m = Manifest::read_json(r#"{"version":"v2","index":null}"#.as_bytes()).unwrap();
        assert!(m.index.is_empty());
        let m = Manifest::read_json(r#"{"version":"v2"}"#.as_bytes()).unwrap();
        assert_eq!(m, Manifest::default());
    }

    #[test]
    fn any_version_is_read_and_kept() {
        let m = Manifest::read_json(r#"{"version":"v3","index":[{},{}]}"#.as_bytes()).unwrap();
        assert_eq!(m.content.version, "v3");
        assert!(!m.content.is_known_version());
        assert_eq!(m.index.len(), 2);
        for absent in [r#"{"index":[]}"#, r#"{"version":null}"#] {
            let m = Manifest::read_json(absent.as_bytes()).unwrap();
            assert_eq!(m.content.version, "", "{absent}");
            assert!(!m.content.is_known_version());
        }
        assert!(Manifest::default().content.is_known_version());
        // A version of the wrong JSON type is still malformed.
        let e = Manifest::read_json(r#"{"version":2}"#.as_bytes()).unwrap_err();
        assert!(matches!(e, ManifestError::Json(_)), "{e}");
    }

    #[test]
    fn json_errors_carry_positions() {
        let e =
            Manifest::read_json("{\"version\":\"v2\",\n\"size\":\"big\"}".as_bytes()).unwrap_err();
        let ManifestError::Json(inner) = &e else {
            panic!("{e}")
        };
        assert_eq!(inner.line(), 2);
        assert!(e.to_string().contains("line 2 column"), "{e}");

        let e = Manifest::read_json("{\"version\":\"v2\",\"index\":[{\"size\":[]}]}".as_bytes())
            .unwrap_err();
        assert!(matches!(e, ManifestError::Json(_)), "{e}");

        let e = Manifest::read_json(r#"[1]"#.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("a manifest JSON object"), "{e}");

        let e = Manifest::read_json(r#"{"version":"v2"} x"#.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("trailing characters"), "{e}");

        let e =
            Manifest::read_json(r#"{"version":"v2","cluster_id":"nope"}"#.as_bytes()).unwrap_err();
        assert!(matches!(e, ManifestError::Json(_)), "{e}");
    }

    #[test]
    fn gzip_errors_are_io_errors() {
        let e = Manifest::read_gzip(&b"not gzip at all"[..]).unwrap_err();
        assert!(matches!(e, ManifestError::Io(_)), "{e}");
        let mut gz = Vec::new();
        sample().write_gzip(&mut gz).unwrap();
        gz.truncate(gz.len() / 2);
        let e = Manifest::read_gzip(&gz[..]).unwrap_err();
        assert!(matches!(e, ManifestError::Io(_)), "{e}");
    }

    #[test]
    fn callback_errors_stop_reading() {
        #[derive(Debug)]
        enum MyError {
            Manifest(ManifestError),
            Enough(usize),
        }
        impl From<ManifestError> for MyError {
            fn from(e: ManifestError) -> Self {
                MyError::Manifest(e)
            }
        }
        let mut gz = Vec::new();
        let mut m = sample();
        m.index = (0..10).map(|i| entry("ks", &format!("t{i}"), i)).collect();
        m.write_gzip(&mut gz).unwrap();
        let mut seen = 0;
        let r = stream_index(&gz[..], |_| {
            seen += 1;
            if seen == 3 {
                Err(MyError::Enough(seen))
            } else {
                Ok(())
            }
        });
        assert!(matches!(r, Err(MyError::Enough(3))), "{r:?}");
        assert_eq!(seen, 3);
        let r = stream_index(&b"{"[..], |_| Ok::<_, MyError>(()));
        assert!(
            matches!(&r, Err(MyError::Manifest(e)) if matches!(e, ManifestError::Io(_))),
            "{r:?}"
        );
        let r = stream_index_json(&b"{"[..], |_| Ok::<_, MyError>(()));
        assert!(
            matches!(&r, Err(MyError::Manifest(e)) if e.to_string().contains("EOF")),
            "{r:?}"
        );
    }

    #[test]
    fn content_deserializes_alone_ignoring_the_index() {
        let c: ManifestContent =
            serde_json::from_str(r#"{"version":"v2","index":[{"bad":true}],"rack":"r"}"#).unwrap();
        assert_eq!(c.rack, "r");
    }

    #[test]
    fn writer_matches_whole_manifest_writer() {
        let m = sample();
        let mut whole = Vec::new();
        m.write_gzip(&mut whole).unwrap();
        let mut w = ManifestWriter::new(Vec::new(), &m.content).unwrap();
        for e in &m.index {
            w.write_entry(e).unwrap();
        }
        assert_eq!(w.entries(), 2);
        let streamed = w.finish().unwrap();
        assert_eq!(gunzip(&streamed), gunzip(&whole));

        // An empty index too.
        let empty = Manifest {
            index: vec![],
            ..sample()
        };
        let mut whole = Vec::new();
        empty.write_gzip(&mut whole).unwrap();
        let streamed = ManifestWriter::new(Vec::new(), &empty.content)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(gunzip(&streamed), gunzip(&whole));
        assert_eq!(Manifest::read_gzip(&streamed[..]).unwrap(), empty);
    }

    #[test]
    fn reads_concatenated_gzip_members() {
        let mut json = Vec::new();
        sample().write_json(&mut json).unwrap();
        let (a, b) = json.split_at(json.len() / 2);
        let mut two = gzip(a);
        two.extend(gzip(b));
        assert_eq!(Manifest::read_gzip(&two[..]).unwrap(), sample());
    }

    fn arb_text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.<>&\"\\\\ é\u{2028}-]{0,12}"
    }

    fn arb_entry() -> impl Strategy<Value = FilesMeta> {
        (
            (arb_text(), arb_text(), "[0-9a-f]{32}"),
            proptest::collection::vec(arb_text(), 0..4),
            any::<i64>(),
            proptest::collection::vec(arb_text(), 0..2),
            proptest::option::of(prop_oneof![
                Just(ReplicationType::Vnodes),
                Just(ReplicationType::Tablets)
            ]),
            proptest::option::of("[a-z/]{1,10}"),
        )
            .prop_map(
                |(
                    (keyspace, table, version),
                    files,
                    size,
                    scylla_manifests,
                    replication_type,
                    path,
                )| {
                    FilesMeta {
                        keyspace,
                        table,
                        replication_type,
                        version,
                        files,
                        size,
                        scylla_manifests,
                        path,
                    }
                },
            )
    }

    fn arb_content() -> impl Strategy<Value = ManifestContent> {
        (
            (arb_text(), arb_text(), arb_text(), any::<i64>()),
            proptest::collection::vec(any::<i64>(), 0..8),
            (
                arb_text(),
                arb_text(),
                any::<u32>(),
                any::<u32>(),
                any::<u64>(),
            ),
            (arb_text(), arb_text(), arb_text()),
            (any::<u128>(), arb_text(), any::<u128>()),
            proptest::option::of(0i64..253_402_300_799),
        )
            .prop_map(
                |(
                    (scylla_version, cluster_name, ip, size),
                    tokens,
                    (schema, rack, shard_count, cpu_count, storage_size),
                    (cloud_provider, instance_type, dc),
                    (cluster_id, node_id, task_id),
                    tag,
                )| ManifestContent {
                    version: MANIFEST_VERSION.into(),
                    scylla_version,
                    cluster_name,
                    ip,
                    size,
                    tokens,
                    schema,
                    rack,
                    shard_count,
                    cpu_count,
                    storage_size,
                    instance_details: InstanceDetails {
                        cloud_provider,
                        instance_type,
                    },
                    dc,
                    cluster_id: Uuid::from_u128(cluster_id),
                    node_id,
                    task_id: Uuid::from_u128(task_id),
                    snapshot_tag: tag.map(|s| {
                        SnapshotTag::from_time(chrono::DateTime::from_timestamp(s, 0).unwrap())
                    }),
                },
            )
    }

    fn arb_manifest() -> impl Strategy<Value = Manifest> {
        (arb_content(), proptest::collection::vec(arb_entry(), 0..5))
            .prop_map(|(content, index)| Manifest { content, index })
    }

    proptest! {
        #[test]
        fn gzip_round_trip(m in arb_manifest()) {
            let mut gz = Vec::new();
            m.write_gzip(&mut gz).unwrap();
            prop_assert_eq!(&Manifest::read_gzip(&gz[..]).unwrap(), &m);

            let mut json = Vec::new();
            m.write_json(&mut json).unwrap();
            prop_assert_eq!(&gunzip(&gz), &json);
            prop_assert_eq!(&Manifest::read_json(&json[..]).unwrap(), &m);

            // Go-compatible JSON is still standard JSON: serde_json reads it back alike.
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(value, serde_json::to_value(&m).unwrap());
        }

        #[test]
        fn streaming_writer_matches(m in arb_manifest()) {
            let mut whole = Vec::new();
            m.write_gzip(&mut whole).unwrap();
            let mut w = ManifestWriter::new(Vec::new(), &m.content).unwrap();
            for e in &m.index {
                w.write_entry(e).unwrap();
            }
            let streamed = w.finish().unwrap();
            prop_assert_eq!(gunzip(&streamed), gunzip(&whole));

            let mut entries = Vec::new();
            let content = stream_index(&streamed[..], |e| {
                entries.push(e);
                Ok::<_, ManifestError>(())
            })
            .unwrap();
            prop_assert_eq!(content, m.content);
            prop_assert_eq!(entries, m.index);
        }
    }
}
