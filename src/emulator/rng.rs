//! Deterministic pseudo-randomness: every byte the emulator writes follows from the seed.

/// A small, fast generator (wyrand): good enough statistics for filler bytes, ~8 GB/s.
#[derive(Debug, Clone)]
pub struct Rng {
    /// The generator's whole state.
    state: u64,
}

impl Rng {
    /// A generator for one purpose, derived from the seed and the parts naming that purpose.
    pub fn for_parts(seed: u64, parts: &[&str]) -> Self {
        Rng {
            state: mix(seed, parts),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

/// A 64-bit hash of the seed and the given parts (FNV-1a folded through a finaliser).
pub fn mix(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // splitmix64 finaliser spreads the bits.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A UUID whose bits follow from the seed and the parts (version 4 layout).
pub fn uuid_for(seed: u64, parts: &[&str]) -> uuid::Uuid {
    let mut rng = Rng::for_parts(seed, parts);
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_parts_same_stream_other_parts_other_stream() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_parts(7, &["x", "y"]);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_parts(7, &["x", "y"]);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_parts(7, &["xy"]);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c, "part boundaries must matter");
        assert_ne!(uuid_for(1, &["n"]), uuid_for(2, &["n"]));
    }
}
