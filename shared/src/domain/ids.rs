//! 53-bit, time-ordered integer ids: milliseconds since 2024-01-01 (41 bits, good until 2093)
//! followed by 12 random bits. No counter item, no hot key; a collision (same millisecond and
//! same random bits) is caught by the `attribute_not_exists(pk)` condition of the insert.

use rand::Rng;

pub type Id = u64;

/// 2024-01-01T00:00:00Z in Unix milliseconds.
const EPOCH_MS: u64 = 1_704_067_200_000;
const RANDOM_BITS: u32 = 12;
/// Largest id a JSON client can represent exactly (2^53 - 1).
pub const MAX_ID: Id = (1 << 53) - 1;

/// A new id for the current time. Within a process ids strictly increase (so events emitted
/// by one write keep their order); across processes the random bits keep collisions rare.
pub fn new_id() -> Id {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now_ms = ::time::OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 / 1_000_000;
    let candidate = id_at(now_ms, rand::rng().random_range(0..(1 << RANDOM_BITS)));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn id_at(unix_ms: u64, random: u64) -> Id {
    let elapsed = unix_ms.saturating_sub(EPOCH_MS);
    ((elapsed << RANDOM_BITS) | (random & ((1 << RANDOM_BITS) - 1))) & MAX_ID
}

/// Sort-key form of an id: zero-padded so that lexicographic order is numeric order.
pub fn sk_id(id: Id) -> String {
    format!("{id:016}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_53_bits_and_grow_with_time() {
        let a = id_at(EPOCH_MS + 1_000, 4095);
        let b = id_at(EPOCH_MS + 1_001, 0);
        assert!(a < b);
        assert!(b <= MAX_ID);
        let far = id_at(EPOCH_MS + (69 * 365 * 24 * 3600 * 1000), 4095);
        assert!(far <= MAX_ID && far > b);
    }

    #[test]
    fn new_ids_are_positive_and_increasing() {
        let ids: Vec<_> = (0..1000).map(|_| new_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing in a process"
        );
        assert!(ids.iter().all(|&i| i > 0 && i <= MAX_ID));
    }

    #[test]
    fn sort_keys_order_numerically() {
        assert!(sk_id(99) < sk_id(100));
        assert_eq!(sk_id(7).len(), 16);
    }
}
