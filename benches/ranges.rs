//! The audit's hand-made tables against the maintained crates that do the same job, on the same
//! keys: whether each earns its place (a crate as fast replaces it).
//!
//! - The open-addressing table the whitelist audit once carried by hand (`FirstSeen`, kept here)
//!   against `hashbrown::HashTable`, which it uses now (audit/cidrs.rs): the first of each kind
//!   among 1,000,000 numbered keys, one in ten repeating an earlier one, hashes computed
//!   beforehand in batches of 16 as the audit does.
//! - rustc's Fx hash, which the audit once carried by hand, against `FastHash`
//!   (allowlist/domains/mod.rs, now foldhash's fixed-seed hasher): a map of 200,000 list names
//!   built, then every suffix of every name looked up.
//! - `SpanTree` (ranges/span_tree.rs): the spans holding each of 200,000 spans among 200,000;
//!   no interval-tree crate is in the dependency tree to compare with, so its time alone.
//!
//! Prints the median of RUNS runs (default 15) of each. Run: `cargo bench --bench ranges [-- RUNS]`.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use connect_preflight::allowlist::domains::FastHash;
use connect_preflight::ranges::span_tree::SpanTree;

/// The multiply-and-rotate hash of rustc (`FxHasher`), as the audit had it before foldhash.
#[derive(Clone, Copy, Debug, Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            self.add(word);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Key numbers by hash with a 32-bit fingerprint beside each, and linear probing: the table
/// the audit had before `hashbrown::HashTable`.
struct FirstSeen {
    slots: Vec<u64>,
    mask: usize,
}

impl FirstSeen {
    /// A table for up to `n` keys.
    fn new(n: usize) -> Self {
        let size = (n + n / 4 + 1).next_power_of_two().max(16);
        Self {
            slots: vec![0; size],
            mask: size - 1,
        }
    }

    /// The earlier key that key `i` (hashed to `hash`) repeats, as `same(i, j)` decides, or `None`
    /// after recording `i` as the first of its kind.
    fn first_of(
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

/// A fixed-seed generator (xorshift64*), so every run measures the same keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn median(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut check = 0;
    for _ in 0..runs {
        let start = Instant::now();
        check = std::hint::black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[runs / 2], check)
}

/// The audit's mix of a key's words (ranges/first_seen.rs's caller in audit/cidrs.rs).
fn mix(a: u64, b: u64) -> u64 {
    let mut h = a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^= h >> 29;
    h
}

const BATCH: usize = 16;

fn first_seen(keys: &[(u64, u64)]) -> usize {
    let mut table = FirstSeen::new(keys.len());
    let mut repeats = 0;
    let mut hashes = [0u64; BATCH];
    for start in (0..keys.len()).step_by(BATCH) {
        let end = (start + BATCH).min(keys.len());
        for (k, i) in (start..end).enumerate() {
            hashes[k] = mix(keys[i].0, keys[i].1);
        }
        for (k, i) in (start..end).enumerate() {
            if table
                .first_of(i, hashes[k], |i, j| keys[i] == keys[j])
                .is_some()
            {
                repeats += 1;
            }
        }
    }
    repeats
}

fn hash_table(keys: &[(u64, u64)]) -> usize {
    let mut table: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(keys.len());
    let mut repeats = 0;
    let mut hashes = [0u64; BATCH];
    let rehash = |&j: &u32| mix(keys[j as usize].0, keys[j as usize].1);
    for start in (0..keys.len()).step_by(BATCH) {
        let end = (start + BATCH).min(keys.len());
        for (k, i) in (start..end).enumerate() {
            hashes[k] = mix(keys[i].0, keys[i].1);
        }
        for (k, i) in (start..end).enumerate() {
            if table
                .find(hashes[k], |&j| keys[j as usize] == keys[i])
                .is_some()
            {
                repeats += 1;
            } else {
                table.insert_unique(hashes[k], i as u32, rehash);
            }
        }
    }
    repeats
}

fn names_map<S: BuildHasher + Default>(names: &[String]) -> usize {
    let mut map: HashMap<&str, usize, S> = HashMap::default();
    for (i, name) in names.iter().enumerate() {
        map.entry(name.as_str()).or_insert(i);
    }
    names
        .iter()
        .flat_map(|n| std::iter::successors(Some(n.as_str()), |s| s.split_once('.').map(|x| x.1)))
        .filter(|s| map.contains_key(s))
        .count()
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15)
        .max(1);
    let mut rng = Rng(0x5eed_2026_1204);

    let mut keys: Vec<(u64, u64)> = Vec::with_capacity(1_000_000);
    for i in 0..1_000_000usize {
        if i > 0 && rng.next() % 10 == 0 {
            let j = (rng.next() as usize) % i;
            keys.push(keys[j]);
        } else {
            keys.push((rng.next(), rng.next() & 0xffff));
        }
    }
    let (ours, a) = median(runs, || first_seen(&keys));
    let (crate_, b) = median(runs, || hash_table(&keys));
    assert_eq!(a, b, "both tables find the same repeats");
    println!(
        "first of each kind, 1,000,000 keys ({a} repeats): FirstSeen {:.1} ms, hashbrown::HashTable {:.1} ms",
        ours.as_secs_f64() * 1e3,
        crate_.as_secs_f64() * 1e3
    );

    let names: Vec<String> = (0..200_000)
        .map(|_| {
            format!(
                "h{}.s{}.example{}.com",
                rng.next() % 50_000,
                rng.next() % 1_000,
                rng.next() % 100
            )
        })
        .collect();
    let (fx, a) = median(runs, || {
        names_map::<std::hash::BuildHasherDefault<FxHasher>>(&names)
    });
    let (fold, b) = median(runs, || names_map::<FastHash>(&names));
    assert_eq!(a, b, "both maps find the same names");
    println!(
        "map of 200,000 names, every suffix looked up: Fx {:.1} ms, FastHash (foldhash) {:.1} ms",
        fx.as_secs_f64() * 1e3,
        fold.as_secs_f64() * 1e3
    );

    let spans: Vec<((u32, u32), usize)> = (0..200_000)
        .map(|i| {
            let lo = rng.next() as u32;
            let len = 1u32 << (rng.next() % 24);
            ((lo, lo.saturating_add(len - 1)), i)
        })
        .collect();
    let (tree_time, found) = median(runs, || {
        let tree = SpanTree::new(spans.clone());
        let mut found = 0;
        for &((lo, hi), _) in &spans {
            tree.containing(lo, hi, &mut |_| found += 1);
        }
        found
    });
    println!(
        "spans holding each of 200,000 spans among 200,000 ({found} found): SpanTree {:.1} ms (build included)",
        tree_time.as_secs_f64() * 1e3
    );
}
