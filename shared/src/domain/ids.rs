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

/// A decimal id or 0 as text (headers): 0..=2^53−1, no sign, no leading zeros.
pub const ID_OR_ZERO_PATTERN: &str = "^(?:0|[1-9][0-9]{0,14}|[1-8][0-9]{15}|900[0-6][0-9]{12}|90070[0-9]{11}|90071[0-8][0-9]{10}|900719[0-8][0-9]{9}|9007199[0-1][0-9]{8}|90071992[0-4][0-9]{7}|900719925[0-3][0-9]{6}|9007199254[0-6][0-9]{5}|90071992547[0-3][0-9]{4}|9007199254740[0-8][0-9]{2}|90071992547409[0-8][0-9]{1}|9007199254740990|9007199254740991)$";

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
    fn the_id_pattern_is_exactly_zero_to_max() {
        let re = regex::Regex::new(ID_OR_ZERO_PATTERN).unwrap();
        for n in [
            0,
            1,
            9,
            10,
            999_999_999_999_999,
            1_000_000_000_000_000,
            MAX_ID - 1,
            MAX_ID,
        ] {
            assert!(re.is_match(&n.to_string()), "{n}");
        }
        for n in [
            MAX_ID + 1,
            MAX_ID + 8,
            9_100_000_000_000_000,
            10_000_000_000_000_000,
        ] {
            assert!(!re.is_match(&n.to_string()), "{n}");
        }
        let mut n: u64 = 1;
        while n < (1 << 54) {
            assert_eq!(re.is_match(&n.to_string()), n <= MAX_ID, "{n}");
            n = n * 3 + 7;
        }
        for s in ["00", "01", "+1", "-1", "", " 1"] {
            assert!(!re.is_match(s), "{s:?}");
        }
    }

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
