//! Which published prefixes contain an address, fast enough for a million addresses.
//!
//! CIDR blocks are either nested or disjoint, so the distinct prefixes form a forest. Sorted by
//! (start, length), the innermost block containing an address is the last block starting at or
//! before it, or one of that block's ancestors: a binary search and a short walk up the tree.

use std::net::IpAddr;

use ipnet::IpNet;

use super::Entry;

#[derive(Debug, Default)]
struct Family<T> {
    /// Distinct blocks sorted by (start, prefix length): start, last address, parent node.
    starts: Vec<T>,
    ends: Vec<T>,
    parents: Vec<Option<u32>>,
    /// The entries of each node: a range into `members`.
    member_range: Vec<(u32, u32)>,
    members: Vec<u32>,
}

impl<T: Copy + Ord> Family<T> {
    fn build(mut items: Vec<(T, T, u8, u32)>) -> Self {
        // Sort by start, then shorter prefix first, so parents precede children.
        items.sort_unstable_by_key(|a| (a.0, a.2));
        let mut family = Self {
            starts: Vec::new(),
            ends: Vec::new(),
            parents: Vec::new(),
            member_range: Vec::new(),
            members: Vec::new(),
        };
        let mut stack: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let (start, end, len, _) = items[i];
            let first_member = family.members.len();
            while i < items.len() && items[i].0 == start && items[i].2 == len {
                family.members.push(items[i].3);
                i += 1;
            }
            while let Some(&top) = stack.last() {
                if family.ends[top as usize] >= end {
                    break;
                }
                stack.pop();
            }
            let node = u32::try_from(family.starts.len()).expect("fewer than 2^32 prefixes");
            family.starts.push(start);
            family.ends.push(end);
            family.parents.push(stack.last().copied());
            family.member_range.push((
                u32::try_from(first_member).expect("fits"),
                u32::try_from(family.members.len()).expect("fits"),
            ));
            stack.push(node);
        }
        family
    }

    /// The innermost node containing `addr`.
    fn innermost(&self, addr: T) -> Option<u32> {
        let after = self.starts.partition_point(|&s| s <= addr);
        let mut node = u32::try_from(after.checked_sub(1)?).ok()?;
        loop {
            if self.ends[node as usize] >= addr {
                return Some(node);
            }
            node = self.parents[node as usize]?;
        }
    }
}

/// The lookup structure over a snapshot's entries.
#[derive(Debug, Default)]
pub(crate) struct Index {
    v4: Family<u32>,
    v6: Family<u128>,
}

impl Index {
    pub(crate) fn build(entries: &[Entry]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 entries");
            match e.net {
                IpNet::V4(n) => v4.push((
                    u32::from(n.network()),
                    u32::from(n.broadcast()),
                    n.prefix_len(),
                    i,
                )),
                IpNet::V6(n) => v6.push((
                    u128::from(n.network()),
                    u128::from(n.broadcast()),
                    n.prefix_len(),
                    i,
                )),
            }
        }
        Self {
            v4: Family::build(v4),
            v6: Family::build(v6),
        }
    }

    /// Indexes of the entries containing `addr`, longest prefix first.
    pub(crate) fn containing(&self, addr: IpAddr) -> Containing<'_> {
        let (node, family) = match addr {
            IpAddr::V4(a) => (self.v4.innermost(u32::from(a)), FamilyRef::V4(&self.v4)),
            IpAddr::V6(a) => (self.v6.innermost(u128::from(a)), FamilyRef::V6(&self.v6)),
        };
        let next = node.map_or((0, 0), |n| family.members_of(n));
        Containing { family, node, next }
    }
}

#[derive(Clone, Copy, Debug)]
enum FamilyRef<'a> {
    V4(&'a Family<u32>),
    V6(&'a Family<u128>),
}

impl FamilyRef<'_> {
    fn members_of(self, node: u32) -> (u32, u32) {
        match self {
            Self::V4(f) => f.member_range[node as usize],
            Self::V6(f) => f.member_range[node as usize],
        }
    }

    fn parent(self, node: u32) -> Option<u32> {
        match self {
            Self::V4(f) => f.parents[node as usize],
            Self::V6(f) => f.parents[node as usize],
        }
    }

    fn member(self, i: u32) -> usize {
        (match self {
            Self::V4(f) => f.members[i as usize],
            Self::V6(f) => f.members[i as usize],
        }) as usize
    }
}

/// Walks from the innermost containing block up to the outermost, without allocating.
#[derive(Clone, Debug)]
pub(crate) struct Containing<'a> {
    family: FamilyRef<'a>,
    node: Option<u32>,
    next: (u32, u32),
}

impl Iterator for Containing<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            let node = self.node?;
            if self.next.0 < self.next.1 {
                let member = self.family.member(self.next.0);
                self.next.0 += 1;
                return Some(member);
            }
            self.node = self.family.parent(node);
            self.next = self.node.map_or((0, 0), |n| self.family.members_of(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(net: &str) -> Entry {
        Entry {
            net: net.parse().unwrap(),
            service: 0,
            region: 0,
            nbg: 0,
        }
    }

    #[test]
    fn nested_and_sibling_blocks() {
        let entries: Vec<Entry> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.2.0.0/16",
            "10.1.0.0/16",
            "192.0.2.0/24",
        ]
        .iter()
        .map(|n| entry(n))
        .collect();
        let index = Index::build(&entries);
        let hits = |a: &str| {
            index
                .containing(a.parse().unwrap())
                .map(|i| entries[i].net.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hits("10.1.2.3"),
            ["10.1.2.0/24", "10.1.0.0/16", "10.1.0.0/16", "10.0.0.0/8"]
        );
        assert_eq!(
            hits("10.1.3.1"),
            ["10.1.0.0/16", "10.1.0.0/16", "10.0.0.0/8"]
        );
        assert_eq!(hits("10.3.0.0"), ["10.0.0.0/8"]);
        assert_eq!(hits("11.0.0.0"), Vec::<String>::new());
        assert_eq!(hits("9.255.255.255"), Vec::<String>::new());
        assert_eq!(hits("192.0.2.255"), ["192.0.2.0/24"]);
    }

    proptest! {
        #[test]
        fn index_equals_a_linear_scan(
            nets in prop::collection::vec((any::<u8>(), 0u8..=8), 0..40),
            probes in prop::collection::vec(any::<u8>(), 1..40),
        ) {
            // Blocks inside 198.51.100.0/24, lengths /24 to /32.
            let entries: Vec<Entry> = nets.iter().map(|&(a, l)| {
                let len = 24 + l;
                let host = if len == 24 { 0 } else { u32::from(a) & !((1u32 << (32 - u32::from(len))) - 1) };
                entry(&format!("198.51.100.{host}/{len}"))
            }).collect();
            let index = Index::build(&entries);
            for p in probes {
                let addr: IpAddr = format!("198.51.100.{p}").parse().unwrap();
                let mut got: Vec<usize> = index.containing(addr).collect();
                let mut want: Vec<usize> = (0..entries.len()).filter(|&i| entries[i].net.contains(&addr)).collect();
                // Longest first.
                let lens: Vec<u8> = got.iter().map(|&i| entries[i].net.prefix_len()).collect();
                prop_assert!(lens.windows(2).all(|w| w[0] >= w[1]));
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
        }
    }
}
