//! Which SSTables a run checks the content of: with `sample` P, a deterministic P% per run,
//! chosen by a stable hash of the SSTable's path, the window moving by P every run so that every
//! SSTable is checked within ⌈100/P⌉ runs.

/// The SSTable's position in `0..100`: the CRC-32 of its key, so that it is the same in every
/// process and release (std's hasher is not stable).
fn position(key: &str) -> u64 {
    u64::from(crc32fast::hash(key.as_bytes())) % 100
}

/// Whether the SSTable identified by `key` (its remote directory and TOC name) is checked in run
/// number `round` with `percent` of SSTables checked per run: run `round` checks the positions of
/// the cyclic window `[round·P mod 100, +P)`. 0 selects none, 100 or more every SSTable.
pub fn selected(key: &str, percent: u8, round: u64) -> bool {
    let p = u64::from(percent);
    if p >= 100 {
        return true;
    }
    let start = (round % 100) * p % 100;
    (position(key) + 100 - start) % 100 < p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "backup/sst/cluster/c/dc/dc1/node/n/keyspace/ks/table/t{i}/v/me-{i}-big-TOC.txt"
                )
            })
            .collect()
    }

    #[test]
    fn a_full_sample_selects_every_sstable_in_every_round() {
        for k in keys(200) {
            for round in [0, 1, 7, 12345] {
                assert!(selected(&k, 100, round));
            }
        }
    }

    #[test]
    fn rounds_cover_every_sstable() {
        let keys = keys(2000);
        for p in 1..=100u8 {
            let rounds = 100_u64.div_ceil(u64::from(p));
            for k in &keys {
                let times = (0..rounds).filter(|r| selected(k, p, *r)).count();
                if 100 % p == 0 {
                    assert_eq!(times, 1, "{k} at {p}%");
                } else {
                    assert!(times >= 1, "{k} never selected at {p}%");
                }
            }
        }
    }

    #[test]
    fn about_the_share_asked_for_is_selected_per_round() {
        let keys = keys(20_000);
        for p in [1u8, 10, 25, 33, 50] {
            for round in 0..3 {
                let n = keys.iter().filter(|k| selected(k, p, round)).count();
                let expected = keys.len() * usize::from(p) / 100;
                let slack = expected / 5 + 20;
                assert!(
                    n.abs_diff(expected) <= slack,
                    "{p}% round {round}: {n} selected, about {expected} expected"
                );
            }
        }
    }

    #[test]
    fn a_zero_sample_selects_nothing() {
        assert!(keys(100).iter().all(|k| !selected(k, 0, 3)));
    }
}
