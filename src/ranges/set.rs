//! Sets of IP addresses as sorted, disjoint, non-adjacent intervals, for IPv4 and IPv6 alike:
//! union, difference, intersection, containment, and the minimal list of CIDRs that spells a set.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An address width: `u32` for IPv4, `u128` for IPv6.
pub trait Bits: Copy + Ord + fmt::Debug {
    const WIDTH: u32;
    const ZERO: Self;
    const MAX: Self;
    fn succ(self) -> Option<Self>;
    fn pred(self) -> Option<Self>;
    fn trailing_zeros(self) -> u32;
    /// floor(log2(hi - lo + 1)), the largest power of two that fits in the inclusive span.
    fn span_log2(lo: Self, hi: Self) -> u32;
    /// The last address of the block of `2^bits` addresses starting at `self`.
    fn block_end(self, bits: u32) -> Self;
    /// The number of addresses in `lo..=hi`, saturating at `u128::MAX`.
    fn count(lo: Self, hi: Self) -> u128;
}

macro_rules! impl_bits {
    ($t:ty) => {
        impl Bits for $t {
            const WIDTH: u32 = <$t>::BITS;
            const ZERO: Self = 0;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> {
                self.checked_add(1)
            }
            fn pred(self) -> Option<Self> {
                self.checked_sub(1)
            }
            fn trailing_zeros(self) -> u32 {
                if self == 0 {
                    Self::WIDTH
                } else {
                    <$t>::trailing_zeros(self)
                }
            }
            fn span_log2(lo: Self, hi: Self) -> u32 {
                let diff = hi - lo;
                match diff.checked_add(1) {
                    None => Self::WIDTH,
                    Some(n) => Self::WIDTH - 1 - n.leading_zeros(),
                }
            }
            fn block_end(self, bits: u32) -> Self {
                if bits >= Self::WIDTH {
                    Self::MAX
                } else {
                    self | ((1 << bits) - 1)
                }
            }
            fn count(lo: Self, hi: Self) -> u128 {
                u128::from(hi - lo).saturating_add(1)
            }
        }
    };
}

impl_bits!(u32);
impl_bits!(u128);

/// A set of addresses of one width.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Intervals<T> {
    spans: Vec<(T, T)>,
}

impl<T: Bits> fmt::Debug for Intervals<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.spans).finish()
    }
}

impl<T: Bits> Intervals<T> {
    pub const fn new() -> Self {
        Self { spans: Vec::new() }
    }

    /// Builds a set from inclusive spans in any order, overlapping or not.
    pub(crate) fn from_spans(spans: impl IntoIterator<Item = (T, T)>) -> Self {
        let mut spans: Vec<(T, T)> = spans.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        spans.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(spans.len());
        for (lo, hi) in spans {
            if let Some(last) = merged.last_mut() {
                if last.1.succ().is_none_or(|next| lo <= next) {
                    last.1 = last.1.max(hi);
                    continue;
                }
            }
            merged.push((lo, hi));
        }
        Self { spans: merged }
    }

    /// A set of one CIDR block.
    pub fn block(network: T, len: u8) -> Self {
        let bits = T::WIDTH - u32::from(len);
        Self {
            spans: vec![(network, network.block_end(bits))],
        }
    }

    pub(crate) fn spans(&self) -> &[(T, T)] {
        &self.spans
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// How many addresses, saturating at `u128::MAX`.
    pub fn count(&self) -> u128 {
        self.spans
            .iter()
            .fold(0u128, |acc, &(lo, hi)| acc.saturating_add(T::count(lo, hi)))
    }

    #[must_use]
    pub(crate) fn union(&self, other: &Self) -> Self {
        Self::from_spans(self.spans.iter().chain(&other.spans).copied())
    }

    /// The addresses of `self` that are not in `other`.
    #[must_use]
    pub(crate) fn difference(&self, other: &Self) -> Self {
        let mut out = Vec::new();
        let mut cut = other.spans.iter().peekable();
        for &(lo, hi) in &self.spans {
            let mut lo = Some(lo);
            // Skip cuts wholly before this span.
            while cut
                .peek()
                .is_some_and(|&&(_, chi)| lo.is_some_and(|l| chi < l))
            {
                cut.next();
            }
            let mut rest = cut.clone();
            while let (Some(l), Some(&&(clo, chi))) = (lo, rest.peek()) {
                if clo > hi {
                    break;
                }
                if clo > l {
                    out.push((l, clo.pred().expect("clo > l >= 0")));
                }
                lo = chi.succ().filter(|&n| n <= hi);
                if chi >= hi {
                    break;
                }
                rest.next();
            }
            if let Some(l) = lo {
                out.push((l, hi));
            }
        }
        Self { spans: out }
    }

    #[must_use]
    pub(crate) fn intersection(&self, other: &Self) -> Self {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.spans.len() && j < other.spans.len() {
            let (alo, ahi) = self.spans[i];
            let (blo, bhi) = other.spans[j];
            let lo = alo.max(blo);
            let hi = ahi.min(bhi);
            if lo <= hi {
                out.push((lo, hi));
            }
            if ahi < bhi { i += 1 } else { j += 1 }
        }
        Self { spans: out }
    }

    pub(crate) fn contains(&self, addr: T) -> bool {
        self.covers(addr, addr)
    }

    /// Whether every address of `lo..=hi` is in the set.
    pub(crate) fn covers(&self, lo: T, hi: T) -> bool {
        let i = self.spans.partition_point(|&(s, _)| s <= lo);
        i > 0 && self.spans[i - 1].1 >= hi
    }

    /// Whether `other` is a subset of `self`.
    pub(crate) fn is_superset(&self, other: &Self) -> bool {
        other.spans.iter().all(|&(lo, hi)| self.covers(lo, hi))
    }

    /// The fewest CIDR blocks whose union is exactly this set, in address order.
    pub(crate) fn to_blocks(&self) -> Vec<(T, u8)> {
        let mut out = Vec::new();
        for &(lo, hi) in &self.spans {
            let mut start = lo;
            loop {
                let bits = start.trailing_zeros().min(T::span_log2(start, hi));
                let end = start.block_end(bits);
                out.push((
                    start,
                    u8::try_from(T::WIDTH - bits).expect("prefix length fits u8"),
                ));
                match end.succ() {
                    Some(next) if end < hi => start = next,
                    _ => break,
                }
            }
        }
        out
    }
}

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSet {
    pub v4: Intervals<u32>,
    pub v6: Intervals<u128>,
}

impl IpSet {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self {
            v4: Intervals::from_spans(v4),
            v6: Intervals::from_spans(v6),
        }
    }

    /// A set from inclusive address ranges (`first`, `last` of the same family).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (IpAddr, IpAddr)>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for range in ranges {
            match range {
                (IpAddr::V4(a), IpAddr::V4(b)) => v4.push((u32::from(a), u32::from(b))),
                (IpAddr::V6(a), IpAddr::V6(b)) => v6.push((u128::from(a), u128::from(b))),
                _ => {}
            }
        }
        Self {
            v4: Intervals::from_spans(v4),
            v6: Intervals::from_spans(v6),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    #[must_use]
    pub(crate) fn union(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    #[must_use]
    pub(crate) fn difference(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.difference(&other.v4),
            v6: self.v6.difference(&other.v6),
        }
    }

    #[must_use]
    pub(crate) fn intersection(&self, other: &Self) -> Self {
        Self {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }

    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => self.v4.contains(u32::from(a)),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }

    pub fn covers(&self, net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => self
                .v4
                .covers(u32::from(n.network()), u32::from(n.broadcast())),
            IpNet::V6(n) => self
                .v6
                .covers(u128::from(n.network()), u128::from(n.broadcast())),
        }
    }

    pub(crate) fn is_superset(&self, other: &Self) -> bool {
        self.v4.is_superset(&other.v4) && self.v6.is_superset(&other.v6)
    }

    /// The minimal CIDR list, IPv4 first, each family in address order.
    pub(crate) fn to_cidrs(&self) -> Vec<IpNet> {
        let v4 = self
            .v4
            .to_blocks()
            .into_iter()
            .map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).expect("valid length")));
        let v6 = self
            .v6
            .to_blocks()
            .into_iter()
            .map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).expect("valid length")));
        v4.chain(v6).collect()
    }
}

impl FromIterator<IpNet> for IpSet {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        let nets: Vec<IpNet> = iter.into_iter().collect();
        Self::from_nets(&nets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn cidrs(set: &IpSet) -> Vec<String> {
        set.to_cidrs().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn adjacent_blocks_aggregate() {
        let set = IpSet::from_nets(&[
            net("192.0.2.0/25"),
            net("192.0.2.128/25"),
            net("198.51.100.7/32"),
        ]);
        assert_eq!(cidrs(&set), ["192.0.2.0/24", "198.51.100.7/32"]);
    }

    #[test]
    fn difference_names_the_uncovered_rest() {
        let need = IpSet::from_nets(&[net("15.193.0.0/19")]);
        let have = IpSet::from_nets(&[net("15.193.4.0/24")]);
        assert_eq!(
            cidrs(&need.difference(&have)),
            [
                "15.193.0.0/22",
                "15.193.5.0/24",
                "15.193.6.0/23",
                "15.193.8.0/21",
                "15.193.16.0/20"
            ]
        );
        assert!(!have.is_superset(&need));
        assert!(need.is_superset(&have));
    }

    #[test]
    fn whole_address_spaces_do_not_overflow() {
        let all = IpSet::from_nets(&[net("0.0.0.0/0"), net("::/0")]);
        assert_eq!(cidrs(&all), ["0.0.0.0/0", "::/0"]);
        assert_eq!(all.v4.count(), 1 << 32);
        assert_eq!(all.v6.count(), u128::MAX);
        let rest = all.difference(&IpSet::from_nets(&[
            net("255.255.255.255/32"),
            net("::/128"),
        ]));
        assert!(!rest.contains("255.255.255.255".parse().unwrap()));
        assert!(rest.contains("255.255.255.254".parse().unwrap()));
        assert!(!rest.contains("::".parse().unwrap()));
        assert_eq!(rest.v4.to_blocks().len(), 32);
    }

    #[test]
    fn ranges_become_minimal_cidrs() {
        let set =
            IpSet::from_ranges([("192.0.2.1".parse().unwrap(), "192.0.2.6".parse().unwrap())]);
        assert_eq!(
            cidrs(&set),
            [
                "192.0.2.1/32",
                "192.0.2.2/31",
                "192.0.2.4/31",
                "192.0.2.6/32"
            ]
        );
    }

    // Brute force over an 8-bit universe: sets are bitmaps of 256 addresses.
    fn spans_strategy() -> impl Strategy<Value = Vec<(u32, u32)>> {
        prop::collection::vec(
            (0u32..256, 0u32..256).prop_map(|(a, b)| (a.min(b), a.max(b))),
            0..6,
        )
    }

    fn members(spans: &[(u32, u32)]) -> BTreeSet<u32> {
        spans.iter().flat_map(|&(a, b)| a..=b).collect()
    }

    fn members_of(set: &Intervals<u32>) -> BTreeSet<u32> {
        members(set.spans())
    }

    proptest! {
        #[test]
        fn algebra_matches_brute_force(a in spans_strategy(), b in spans_strategy()) {
            let (sa, sb) = (Intervals::from_spans(a.clone()), Intervals::from_spans(b.clone()));
            let (ma, mb) = (members(&a), members(&b));
            prop_assert_eq!(members_of(&sa), ma.clone());
            prop_assert_eq!(members_of(&sa.union(&sb)), &ma | &mb);
            prop_assert_eq!(members_of(&sa.difference(&sb)), &ma - &mb);
            prop_assert_eq!(members_of(&sa.intersection(&sb)), &ma & &mb);
            prop_assert_eq!(sa.is_superset(&sb), mb.is_subset(&ma));
            for x in 0..256u32 {
                prop_assert_eq!(sa.contains(x), ma.contains(&x));
            }
            // Spans stay sorted, disjoint and non-adjacent, so equal sets are equal values.
            for w in sa.union(&sb).spans().windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
        }

        #[test]
        fn blocks_are_exact_aligned_and_minimal(a in spans_strategy()) {
            let set = Intervals::from_spans(a.clone());
            let blocks = set.to_blocks();
            let mut covered = BTreeSet::new();
            for &(start, len) in &blocks {
                let size = 1u32 << (32 - u32::from(len));
                prop_assert_eq!(start % size, 0, "block {} /{} is aligned", start, len);
                prop_assert!((start..start + size).all(|x| covered.insert(x)), "blocks do not overlap");
            }
            prop_assert_eq!(covered, members(&a));
            // Minimal: no two blocks could merge into their common parent.
            for w in blocks.windows(2) {
                let ((s0, l0), (s1, l1)) = (w[0], w[1]);
                let size = 1u32 << (32 - u32::from(l0));
                prop_assert!(!(l0 == l1 && s0 + size == s1 && s0 % (2 * size) == 0));
            }
        }
    }
}
