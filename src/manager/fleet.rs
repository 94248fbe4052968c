//! Per-DC parallelism of a stage (`snapshot_parallel`, `upload_parallel`; spec 1.5): hosts of a
//! DC with its own `dc:N` entry form a group limited to N; the hosts of every other DC share one
//! group limited by the entry without a DC. Groups run side by side; 0 (or no entry) means every
//! host of the group at once. One host's failure never stops the others.

use std::collections::BTreeMap;

use futures::StreamExt;

use crate::spec::dclimit::DcLimits;

/// Splits `hosts` (DC, item) into groups with their limit (0: no limit).
pub fn groups<T>(hosts: Vec<(String, T)>, limits: &DcLimits) -> Vec<(u64, Vec<T>)> {
    let own: BTreeMap<&str, u64> = limits
        .as_slice()
        .iter()
        .filter_map(|l| l.dc.as_deref().map(|dc| (dc, l.limit)))
        .collect();
    let mut by_dc: BTreeMap<String, Vec<T>> = BTreeMap::new();
    let mut shared = Vec::new();
    for (dc, item) in hosts {
        if own.contains_key(dc.as_str()) {
            by_dc.entry(dc).or_default().push(item);
        } else {
            shared.push(item);
        }
    }
    let mut out: Vec<(u64, Vec<T>)> = by_dc
        .into_iter()
        .map(|(dc, items)| (own[dc.as_str()], items))
        .collect();
    if !shared.is_empty() {
        out.push((limits.default_limit().unwrap_or(0), shared));
    }
    out
}

/// Runs `work` for every host under the groups' limits and returns every result (in no
/// particular order); a failure does not cancel anything.
pub async fn run_limited<T, R, F, Fut>(
    hosts: Vec<(String, T)>,
    limits: &DcLimits,
    work: F,
) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let work = &work;
    let groups = groups(hosts, limits)
        .into_iter()
        .map(|(limit, items)| async move {
            let width = if limit == 0 {
                items.len().max(1)
            } else {
                limit as usize
            };
            futures::stream::iter(items.into_iter().map(work))
                .buffer_unordered(width)
                .collect::<Vec<R>>()
                .await
        });
    futures::future::join_all(groups)
        .await
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn limits(items: &[&str]) -> DcLimits {
        DcLimits::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn hosts() -> Vec<(String, String)> {
        ["dc1", "dc1", "dc1", "dc2", "dc2", "dc3"]
            .iter()
            .enumerate()
            .map(|(i, dc)| (dc.to_string(), format!("{dc}-h{i}")))
            .collect()
    }

    #[test]
    fn dcs_with_their_own_entry_form_groups_and_the_rest_share_the_default() {
        let g = groups(hosts(), &limits(&["dc1:2", "5"]));
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0],
            (2, vec!["dc1-h0".into(), "dc1-h1".into(), "dc1-h2".into()])
        );
        assert_eq!(g[1].0, 5);
        assert_eq!(g[1].1.len(), 3, "dc2 and dc3 share one group");
        let none = groups(hosts(), &DcLimits::default());
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].0, 0, "no entry: all at once");
    }

    #[tokio::test]
    async fn at_most_the_limit_of_a_group_runs_at_once_and_failures_do_not_stop_others() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let results = run_limited(hosts(), &limits(&["dc1:1", "1"]), |h: String| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                if h.ends_with("h0") { Err(h) } else { Ok(h) }
            }
        })
        .await;
        assert_eq!(results.len(), 6, "every host ran despite h0 failing");
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            2,
            "one per group, two groups side by side"
        );
    }
}
