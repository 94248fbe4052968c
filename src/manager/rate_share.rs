//! Sharing a DC's bandwidth budget among the hosts uploading now.
//!
//! Upstream gives every host of a DC the same per-host limit (`rate_limit`). Cairn adds an
//! aggregate budget per DC (`rate_limit_total`): the hosts uploading at a moment share it, each
//! still capped by its per-host limit. The division is max-min fair ("water filling"): hosts whose
//! cap is below the fair share get their cap, and what they leave is split among the others. So
//! the DC total is never exceeded, and it is fully used whenever the caps allow. The
//! `RateLimitActor` re-runs the division whenever a host starts or finishes uploading and pushes
//! the new rates to the agents.

/// One host's part of a division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Bytes per second the host may use; 0 means unlimited.
    pub rate: u64,
}

/// Divides `total` bytes/s (0: no aggregate budget) among hosts with these per-host `caps`
/// (bytes/s, 0: no cap), in the order given.
pub fn divide(total: u64, caps: &[u64]) -> Vec<Share> {
    if total == 0 {
        return caps.iter().map(|&cap| Share { rate: cap }).collect();
    }
    // Fill the smallest caps first; an uncapped host is the largest.
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by_key(|&i| if caps[i] == 0 { u64::MAX } else { caps[i] });
    let mut rates = vec![0; caps.len()];
    let mut left = total;
    for (k, &i) in order.iter().enumerate() {
        let hosts_left = (caps.len() - k) as u64;
        let fair = left / hosts_left;
        let cap = if caps[i] == 0 { u64::MAX } else { caps[i] };
        rates[i] = fair.min(cap);
        left -= rates[i];
    }
    // Integer division leaves at most one byte/s per host: hand it to hosts below their cap.
    for &i in order.iter().rev() {
        if left == 0 {
            break;
        }
        if caps[i] == 0 || rates[i] < caps[i] {
            rates[i] += 1;
            left -= 1;
        }
    }
    // A zero rate would read as "unlimited": the least any host gets is one byte per second.
    rates
        .into_iter()
        .map(|rate| Share { rate: rate.max(1) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn equal_hosts_split_the_total_and_small_caps_leave_room_to_others() {
        let r: Vec<u64> = divide(300 * MIB, &[0, 0, 0])
            .iter()
            .map(|s| s.rate)
            .collect();
        assert_eq!(r, [100 * MIB; 3]);
        let r: Vec<u64> = divide(300 * MIB, &[50 * MIB, 0, 0])
            .iter()
            .map(|s| s.rate)
            .collect();
        assert_eq!(r, [50 * MIB, 125 * MIB, 125 * MIB]);
        let r: Vec<u64> = divide(300 * MIB, &[50 * MIB, 60 * MIB, 70 * MIB])
            .iter()
            .map(|s| s.rate)
            .collect();
        assert_eq!(
            r,
            [50 * MIB, 60 * MIB, 70 * MIB],
            "caps below the fair share are kept"
        );
        let r: Vec<u64> = divide(0, &[50 * MIB, 0]).iter().map(|s| s.rate).collect();
        assert_eq!(
            r,
            [50 * MIB, 0],
            "no aggregate budget: per-host limits only"
        );
        // One of three hosts finished: the two left share the whole total.
        let r: Vec<u64> = divide(200 * MIB, &[0, 0]).iter().map(|s| s.rate).collect();
        assert_eq!(r, [100 * MIB; 2]);
    }

    proptest! {
        #[test]
        fn never_exceeds_the_total_nor_a_cap_and_uses_what_caps_allow(
            total in 1u64..(1 << 40),
            caps in proptest::collection::vec(prop_oneof![Just(0u64), 1u64..(1 << 40)], 1..20),
        ) {
            let shares = divide(total, &caps);
            prop_assert_eq!(shares.len(), caps.len());
            let sum: u64 = shares.iter().map(|s| s.rate).sum();
            let floor_bonus = shares.iter().filter(|s| s.rate == 1).count() as u64;
            prop_assert!(sum <= total + floor_bonus, "sum {} over total {}", sum, total);
            for (s, &cap) in shares.iter().zip(&caps) {
                prop_assert!(cap == 0 || s.rate <= cap.max(1), "rate {} over cap {}", s.rate, cap);
            }
            let demand: u64 = caps.iter().map(|&c| if c == 0 { u64::MAX } else { c }).fold(0u64, |a, c| a.saturating_add(c));
            prop_assert!(sum >= total.min(demand), "sum {} leaves budget unused (total {}, demand {})", sum, total, demand);
        }
    }
}
