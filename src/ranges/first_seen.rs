//! The first of each kind among numbered keys: an open-addressing table of key numbers with a
//! 32-bit fingerprint of the hash beside each, so that a probe rarely touches a key. The caller
//! hashes and compares the keys (they live in its own compact tables, not in the table).
//!
//! Used by the audit to find every whitelist entry repeating an earlier one. A map of owned keys
//! cost three allocations and a hash of every span per line; `hashbrown::HashTable` is the crate
//! that does the same job, and `cargo bench --bench ranges` measures both on the same keys and
//! hashes (see the figure on [`FirstSeen`]).

/// Key numbers (below `u32::MAX`) by hash, with linear probing.
///
/// Kept by hand because it measured faster than the crate: `cargo bench --bench ranges`
/// (1,000,000 keys, one in ten repeating an earlier one, the same hashes computed beforehand in
/// batches of 16) took 79.8 ms against 87.7 ms for `hashbrown::HashTable` (median of 15 runs),
/// and 115.6 ms against 124.8 ms in a second run (median of 21), a release build on a shared
/// 2-core machine: about 8 % faster, both times.
pub struct FirstSeen {
    slots: Vec<u64>,
    mask: usize,
}

impl FirstSeen {
    /// A table for up to `n` keys.
    pub fn new(n: usize) -> Self {
        let size = (n + n / 4 + 1).next_power_of_two().max(16);
        Self {
            slots: vec![0; size],
            mask: size - 1,
        }
    }

    /// The earlier key that key `i` (hashed to `hash`) repeats, as `same(i, j)` decides, or `None`
    /// after recording `i` as the first of its kind.
    pub fn first_of(
        &mut self,
        i: usize,
        hash: u64,
        same: impl Fn(usize, usize) -> bool,
    ) -> Option<usize> {
        let fingerprint = hash >> 32;
        let mut at = (hash as usize) & self.mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                self.slots[at] = fingerprint << 32 | (i as u64 + 1);
                return None;
            }
            let j = (slot & 0xffff_ffff) as usize - 1;
            if slot >> 32 == fingerprint && same(i, j) {
                return Some(j);
            }
            at = (at + 1) & self.mask;
        }
    }
}
