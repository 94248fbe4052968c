//! The check of one node directory (spec §11 step 4, plus sizes and content): the files the
//! node's final and temporary manifests reference, against a recursive listing of the directory;
//! missing files and the snapshots they break; each table's listed sizes against the manifest's;
//! the content of the (sampled) SSTables; orphans, deleted within the safety rules when asked.
//!
//! The directory is listed first and each manifest is then checked entry by entry as it is read
//! (streaming), so only the listing and the set of referenced files are held. Files of a
//! temporary manifest (a run not finished) are not required to be there: they only protect the
//! files they name from being taken for orphans.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::location::NodeManifests;
use super::orphans::{DELETE_BATCH, References, deletable};
use super::properties::ContentCheck;
use super::report::{NodeReport, SizeMismatch, push_listed};
use super::sample;
use super::source::{CheckOptions, CheckProgress, ValidateSource};
use crate::agent::wire::{CheckedFile, Entry, SSTableCheck};
use crate::format::location::Location;
use crate::format::manifest::FilesMeta;
use crate::format::paths::ManifestInfo;
use crate::format::sstable::{SSTableName, TOC_COMPONENT, split_versioned, version_for_tag};
use crate::format::tag::SnapshotTag;
use crate::manager::location::manifests::{LocationError, walk_manifest};

/// How one node directory is checked.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// How much content to check.
    pub content: ContentCheck,
    /// Percent of SSTables whose content is checked.
    pub sample: u8,
    /// This run's number, moving the sample's window.
    pub round: u64,
    /// Find orphans (off when only some snapshots are validated: the others' files would look
    /// orphaned).
    pub find_orphans: bool,
    /// Delete the orphans that may be deleted.
    pub delete_orphans: bool,
    /// Orphans modified after this are never deleted.
    pub cutoff: DateTime<Utc>,
    /// Concurrency and bandwidth of the content check.
    pub check: CheckOptions,
}

/// The error text of a check stopped by its cancellation token.
pub const STOPPED: &str = "stopped";

/// How often, in listed files, the report so far is handed to `on_progress`.
const PROGRESS_EVERY: u64 = 1000;

/// Checks one node directory of `location` through `source`; `on_progress` gets the report so
/// far every 1,000 listed files and as content checks finish. A failure to list the directory or
/// read a manifest is an error (which the caller may retry or record in the report). A failed
/// content check or deletion is recorded in the report's `error`, the rest of the check going
/// on. Once `cancel` fires the check stops between steps and returns what it has, with error
/// [`STOPPED`] (not an `Err`: what was found so far stands).
pub async fn validate_node<S: ValidateSource>(
    source: &S,
    location: &Location,
    node: &NodeManifests,
    options: &NodeOptions,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(&NodeReport) + Send + Sync),
) -> Result<NodeReport, LocationError> {
    let mut report = NodeReport {
        dc: node.dc.clone(),
        node_id: node.node_id.clone(),
        checked_by: source.checked_by(),
        started_at: Some(Utc::now()),
        ..NodeReport::default()
    };
    let node_dir = node.dir();
    let entries = source
        .list_entries(location, &node_dir)
        .await
        .map_err(|source| LocationError::List {
            location: location.to_string(),
            source,
        })?;
    let mut walk = Walk::new(options);
    for e in entries.into_iter().filter(|e| !e.dir) {
        walk.listing.add(&node_dir, e);
        report.scanned_files += 1;
        if report.scanned_files.is_multiple_of(PROGRESS_EVERY) {
            on_progress(&report);
        }
    }
    on_progress(&report);
    if cancel.is_cancelled() {
        return Ok(stopped(report));
    }

    for info in &node.finals {
        if read_manifest(source, location, info, &mut walk, true).await? {
            report.manifests += 1;
        }
        if cancel.is_cancelled() {
            return Ok(stopped(walk.finish(report)));
        }
    }
    for info in &node.temporaries {
        if read_manifest(source, location, info, &mut walk, false).await? {
            report.temporary_manifests += 1;
        }
        if cancel.is_cancelled() {
            return Ok(stopped(walk.finish(report)));
        }
    }
    walk.check_schemas(source, location).await?;
    let checks = std::mem::take(&mut walk.checks);
    let mut report = walk.finish(report);
    on_progress(&report);
    if cancel.is_cancelled() {
        return Ok(stopped(report));
    }

    if options.content != ContentCheck::None && !checks.is_empty() {
        check_content(
            source,
            location,
            checks,
            options,
            &walk.holders,
            &mut report,
            cancel,
            on_progress,
        )
        .await;
        on_progress(&report);
        if cancel.is_cancelled() {
            return Ok(stopped(report));
        }
    }

    if options.find_orphans {
        orphans(
            source,
            location,
            walk.listing,
            &walk.refs,
            options,
            &mut report,
            cancel,
        )
        .await;
    }
    report.completed_at = Some(Utc::now());
    Ok(report)
}

/// `report` ended early by the cancellation token.
fn stopped(mut report: NodeReport) -> NodeReport {
    report.error = Some(STOPPED.to_string());
    report.completed_at = Some(Utc::now());
    report
}

/// Reads one manifest into `walk`: a final one (`is_final`) is checked, a temporary one only
/// protects its files. Returns whether it was read: a manifest gone since it was listed (a
/// snapshot purged meanwhile) is skipped; a temporary one gone because its run finished is read
/// as its final one, still only protecting (its files may postdate the listing).
async fn read_manifest<S: ValidateSource>(
    source: &S,
    location: &Location,
    info: &ManifestInfo,
    walk: &mut Walk<'_>,
    is_final: bool,
) -> Result<bool, LocationError> {
    let read_err = |source| LocationError::Read {
        location: location.to_string(),
        source,
    };
    let walked = walk_manifest(source, location, info, |fm| walk.entry(info, &fm, is_final)).await;
    match walked {
        Ok(content) => {
            if is_final && !content.schema.is_empty() {
                walk.schemas
                    .push((content.schema.clone(), info.snapshot_tag.clone()));
            }
            Ok(true)
        }
        Err(e) if e.is_not_found() && info.temporary => {
            let committed = ManifestInfo {
                temporary: false,
                ..info.clone()
            };
            match walk_manifest(source, location, &committed, |fm| {
                walk.entry(info, &fm, false)
            })
            .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.is_not_found() => Ok(false),
                Err(e) => Err(read_err(e)),
            }
        }
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(read_err(e)),
    }
}

/// One listed file.
#[derive(Debug, Clone)]
struct Listed {
    /// Its size.
    size: u64,
    /// When it was last written, if the listing says.
    modified: Option<DateTime<Utc>>,
}

/// The files of one listed directory.
#[derive(Debug, Default)]
struct DirListing {
    /// Every file by name.
    files: HashMap<String, Listed>,
    /// The versioned copies (`f.sm_X`) by the name `f` they are copies of.
    versions: HashMap<String, Vec<String>>,
}

/// The node directory's listing, by directory (relative to the location's root).
#[derive(Debug, Default)]
struct Listing {
    /// Each directory's files.
    dirs: HashMap<String, DirListing>,
}

impl Listing {
    /// Adds `entry`, listed under `node_dir`.
    fn add(&mut self, node_dir: &str, entry: Entry) {
        let (dir, name) = match entry.path.rsplit_once('/') {
            Some((d, n)) => (format!("{node_dir}/{d}"), n.to_string()),
            None => (node_dir.to_string(), entry.path),
        };
        let d = self.dirs.entry(dir).or_default();
        if let Some((base, _)) = split_versioned(&name) {
            d.versions
                .entry(base.to_string())
                .or_default()
                .push(name.clone());
        }
        d.files.insert(
            name,
            Listed {
                size: entry.size,
                modified: entry.modified,
            },
        );
    }

    /// The listed size of `name` in `dir` (exactly that object).
    fn get(&self, dir: &str, name: &str) -> Option<&Listed> {
        self.dirs.get(dir)?.files.get(name)
    }

    /// The object of `dir` holding `name` as snapshot `tag` saw it, with its listed size.
    fn resolve(&self, dir: &str, name: &str, tag: &SnapshotTag) -> Option<(String, u64)> {
        let d = self.dirs.get(dir)?;
        let plain = d.files.get_key_value(name).map(|(k, _)| k.as_str());
        let copies = d.versions.get(name).into_iter().flatten();
        let object = version_for_tag(
            name,
            tag,
            plain.into_iter().chain(copies.map(String::as_str)),
        )?;
        let size = d.files.get(&object)?.size;
        Some((object, size))
    }
}

/// What the manifests of one node directory reference, checked against its listing as they are
/// read.
struct Walk<'a> {
    /// How the node is checked.
    options: &'a NodeOptions,
    /// The node directory's listing.
    listing: Listing,
    /// Every file referenced by a final or temporary manifest (for orphans).
    refs: References,
    /// Files referenced by final manifests, each once (`<dir>/<object>`), for the count.
    referenced: HashSet<String>,
    /// Missing files (`<dir>/<name>`), each once.
    missing: BTreeSet<String>,
    /// The missing files, in the order found (at most `MAX_LISTED`).
    missing_listed: Vec<String>,
    /// Broken snapshots.
    broken: BTreeSet<String>,
    /// Size mismatches, snapshots with the same expectation merged.
    mismatches: Vec<SizeMismatch>,
    /// Each checked object (`<dir>/<object>`) with the snapshots holding it.
    holders: HashMap<String, Vec<SnapshotTag>>,
    /// The SSTables whose content is checked.
    checks: Vec<SSTableCheck>,
    /// The SSTables seen for content (directory and objects), each once.
    seen: HashSet<String>,
    /// SSTables left out by the sample.
    skipped: u64,
    /// Each final manifest's schema file with its snapshot.
    schemas: Vec<(String, SnapshotTag)>,
}

impl<'a> Walk<'a> {
    /// An empty walk.
    fn new(options: &'a NodeOptions) -> Self {
        Walk {
            options,
            listing: Listing::default(),
            refs: References::default(),
            referenced: HashSet::new(),
            missing: BTreeSet::new(),
            missing_listed: Vec::new(),
            broken: BTreeSet::new(),
            mismatches: Vec::new(),
            holders: HashMap::new(),
            checks: Vec::new(),
            seen: HashSet::new(),
            skipped: 0,
            schemas: Vec::new(),
        }
    }

    /// Records a missing file and the snapshot it breaks.
    fn missing(&mut self, path: String, tag: &SnapshotTag) {
        self.broken.insert(tag.to_string());
        if self.missing.insert(path.clone()) {
            push_listed(&mut self.missing_listed, path);
        }
    }

    /// One index entry of manifest `info`.
    fn entry(&mut self, info: &ManifestInfo, fm: &FilesMeta, is_final: bool) {
        let dir = info.sstable_version_dir(&fm.keyspace, &fm.table, &fm.version);
        let tag = &info.snapshot_tag;
        for name in fm.files.iter().chain(&fm.scylla_manifests) {
            self.refs.add(&dir, name, tag);
        }
        if !is_final {
            return;
        }
        let mut found: i64 = 0;
        let mut sizes = Vec::with_capacity(fm.files.len());
        let mut resolved = Vec::with_capacity(fm.files.len());
        for name in &fm.files {
            match self.listing.resolve(&dir, name, tag) {
                Some((object, size)) => {
                    found = found.saturating_add(i64::try_from(size).unwrap_or(i64::MAX));
                    self.referenced.insert(format!("{dir}/{object}"));
                    sizes.push((object.clone(), Some(size)));
                    resolved.push((name, Some((object, size))));
                }
                None => {
                    self.missing(format!("{dir}/{name}"), tag);
                    sizes.push((name.clone(), None));
                    resolved.push((name, None));
                }
            }
        }
        for name in &fm.scylla_manifests {
            self.referenced.insert(format!("{dir}/{name}"));
            if self.listing.get(&dir, name).is_none() {
                self.missing(format!("{dir}/{name}"), tag);
            }
        }
        if found != fm.size {
            self.broken.insert(tag.to_string());
            self.mismatch(&dir, fm, tag, found, sizes);
        }
        if self.options.content != ContentCheck::None {
            self.sstables(&dir, tag, resolved);
        }
    }

    /// Records that the files of `fm` in `dir` add up to `found`, not the manifest's size.
    fn mismatch(
        &mut self,
        dir: &str,
        fm: &FilesMeta,
        tag: &SnapshotTag,
        found: i64,
        sizes: Vec<(String, Option<u64>)>,
    ) {
        if let Some(m) = self
            .mismatches
            .iter_mut()
            .find(|m| m.dir == dir && m.expected == fm.size && m.found == found)
        {
            m.snapshots.push(tag.to_string());
            return;
        }
        let mut files = Vec::new();
        for f in sizes {
            push_listed(&mut files, f);
        }
        push_listed(
            &mut self.mismatches,
            SizeMismatch {
                dir: dir.to_string(),
                keyspace: fm.keyspace.clone(),
                table: fm.table.clone(),
                snapshots: vec![tag.to_string()],
                expected: fm.size,
                found,
                files,
            },
        );
    }

    /// Adds the SSTables of one final manifest's table directory to the content check: grouped by
    /// SSTable, each (directory, objects) once, as the sample selects. An SSTable with a missing
    /// component is left out (its snapshot is broken already; its TOC would not match).
    fn sstables(
        &mut self,
        dir: &str,
        tag: &SnapshotTag,
        files: Vec<(&String, Option<(String, u64)>)>,
    ) {
        let mut groups: BTreeMap<String, Option<Vec<CheckedFile>>> = BTreeMap::new();
        for (name, object) in files {
            let Ok(parsed) = name.parse::<SSTableName>() else {
                continue;
            };
            let toc = parsed.with_component(TOC_COMPONENT).to_string();
            let group = groups.entry(toc).or_insert_with(|| Some(Vec::new()));
            match (group.as_mut(), object) {
                (Some(g), Some((object, size))) => g.push(CheckedFile {
                    name: name.clone(),
                    object,
                    size,
                }),
                _ => *group = None,
            }
        }
        for (toc, files) in groups {
            let Some(mut files) = files else { continue };
            files.sort_by(|a, b| a.name.cmp(&b.name));
            for f in &files {
                let holders = self
                    .holders
                    .entry(format!("{dir}/{}", f.object))
                    .or_default();
                if !holders.contains(tag) {
                    holders.push(tag.clone());
                }
            }
            let key = files.iter().fold(dir.to_string(), |mut k, f| {
                k.push('\n');
                k.push_str(&f.object);
                k
            });
            if !self.seen.insert(key) {
                continue;
            }
            if sample::selected(
                &format!("{dir}/{toc}"),
                self.options.sample,
                self.options.round,
            ) {
                self.checks.push(SSTableCheck {
                    dir: dir.to_string(),
                    files,
                });
            } else {
                self.skipped += 1;
            }
        }
    }

    /// Checks that the schema file of each final manifest is in the location (listing each
    /// schema directory once).
    async fn check_schemas<S: ValidateSource>(
        &mut self,
        source: &S,
        location: &Location,
    ) -> Result<(), LocationError> {
        let mut dirs: HashMap<String, HashSet<String>> = HashMap::new();
        for (path, tag) in std::mem::take(&mut self.schemas) {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            if !dirs.contains_key(dir) {
                let listed = source.list_files(location, dir).await.map_err(|source| {
                    LocationError::List {
                        location: location.to_string(),
                        source,
                    }
                })?;
                dirs.insert(dir.to_string(), listed.into_iter().collect());
            }
            self.referenced.insert(path.clone());
            if !dirs.get(dir).is_some_and(|names| names.contains(name)) {
                self.missing(path.clone(), &tag);
            }
        }
        Ok(())
    }

    /// Moves what the walk found into `report`.
    fn finish(&mut self, mut report: NodeReport) -> NodeReport {
        report.files = self.referenced.len() as u64;
        report.missing_files = self.missing.len() as u64;
        report.missing = std::mem::take(&mut self.missing_listed);
        report.broken_snapshots = self.broken.iter().cloned().collect();
        report.size_mismatches = std::mem::take(&mut self.mismatches);
        report.sstables_skipped = self.skipped;
        report
    }
}

/// Runs the content check of `checks` and folds its outcome into `report`: counts, findings,
/// corrupt files and the snapshots holding them (broken).
#[allow(clippy::too_many_arguments)]
async fn check_content<S: ValidateSource>(
    source: &S,
    location: &Location,
    checks: Vec<SSTableCheck>,
    options: &NodeOptions,
    holders: &HashMap<String, Vec<SnapshotTag>>,
    report: &mut NodeReport,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(&NodeReport) + Send + Sync),
) {
    let bytes = AtomicU64::new(0);
    let base = report.clone();
    let progress = |p: CheckProgress| {
        bytes.store(p.bytes, Ordering::Relaxed);
        let mut r = base.clone();
        r.sstables_checked = p.sstables;
        r.bytes_checked = p.bytes;
        on_progress(&r);
    };
    let check = CheckOptions {
        md5: options.content == ContentCheck::Full,
        ..options.check
    };
    let outcome = match source
        .check_content(location, checks, check, cancel, &progress)
        .await
    {
        Ok(o) => o,
        Err(e) => {
            report.error = Some(format!("checking content: {e}"));
            return;
        }
    };
    report.sstables_checked = outcome.sstables_checked;
    report.bytes_checked = bytes.load(Ordering::Relaxed);
    report.md5_checked = outcome.md5_checked;
    report.md5_unavailable = outcome.md5_unavailable;
    let mut corrupt = BTreeSet::new();
    for f in outcome.findings {
        if corrupt.insert(f.file.clone()) {
            for tag in holders.get(&f.file).into_iter().flatten() {
                report.broken_snapshots.push(tag.to_string());
            }
        }
        push_listed(&mut report.findings, f);
    }
    report.broken_snapshots.sort();
    report.broken_snapshots.dedup();
    report.corrupt_files = corrupt.len() as u64;
}

/// Finds the orphans of the listing (files written since the check started are not) and, when
/// asked, deletes those the safety rules allow.
async fn orphans<S: ValidateSource>(
    source: &S,
    location: &Location,
    listing: Listing,
    refs: &References,
    options: &NodeOptions,
    report: &mut NodeReport,
    cancel: &CancellationToken,
) {
    // A file written after this check started belongs to a backup the manifests read could not
    // know of (upstream: "modified after validation started is fine").
    let started = report.started_at.unwrap_or_else(Utc::now);
    let mut found: Vec<(String, Listed)> = Vec::new();
    for (dir, d) in listing.dirs {
        for (name, listed) in d.files {
            let fresh = listed.modified.is_some_and(|m| m > started);
            if !fresh && !refs.is_referenced(&dir, &name) {
                found.push((format!("{dir}/{name}"), listed));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut doomed = Vec::new();
    for (path, listed) in found {
        report.orphaned_files += 1;
        report.orphaned_bytes += listed.size;
        push_listed(&mut report.orphans, path.clone());
        if options.delete_orphans {
            let entry = Entry {
                path: path.clone(),
                size: listed.size,
                dir: false,
                modified: listed.modified,
            };
            if deletable(&entry, options.cutoff) {
                doomed.push(path);
            } else {
                report.kept_orphans += 1;
            }
        }
    }
    for batch in doomed.chunks(DELETE_BATCH) {
        if cancel.is_cancelled() {
            report.error = Some(STOPPED.to_string());
            return;
        }
        match source.delete(location, batch).await {
            Ok(n) => {
                report.deleted_files += n;
                for p in batch {
                    push_listed(&mut report.deleted, p.clone());
                }
            }
            Err(e) => {
                report.error = Some(format!("deleting orphans: {e}"));
                return;
            }
        }
    }
}
