//! [`Positions`]: where each node of a document starts in its file, kept compactly.
//!
//! Every object carries the position of every node, because any node may be the one a
//! finding points at; but findings are rare and objects are many (the 10,000-object
//! benchmark has about 600,000 nodes). A map from pointer text to position cost about 9 KB
//! per object (a heap string per node plus the tree's own nodes) and dominated `berth check`'s
//! memory. Here a node costs 20 bytes: the pointer is kept only as a 64-bit hash, in one
//! sorted array, with the positions in a parallel one. The YAML reader hashes pointers token
//! by token ([`PointerHash`]) and never writes their text.
//!
//! The price is that the pointers cannot be listed, only looked up: [`Positions::rebase`]
//! (cutting a `List` into its items) walks the value for the pointers instead.

use serde_json::Value;

use crate::Pos;

/// JSON pointer → [`Pos`], looked up like a `BTreeMap<String, Pos>` but stored as sorted
/// pointer hashes (8 bytes) beside the positions (12 bytes).
///
/// Two different pointers of one document get the same hash with a probability of about
/// n²/2⁶⁵ for n nodes (10⁻¹⁴ for a 1,000-node object), and a lookup of a pointer that is
/// not there finds another's position with a probability of about n/2⁶⁴: small enough to
/// ignore, and the worst it could do is point a finding at the wrong line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions {
    /// Finished pointer hashes, sorted, unique.
    keys: Box<[u64]>,
    /// `positions[i]` is where the node whose pointer hashes to `keys[i]` starts.
    positions: Box<[Pos]>,
}

impl Positions {
    /// The position of the node at `pointer`, if it has one.
    pub fn get(&self, pointer: &str) -> Option<&Pos> {
        self.get_hash(PointerHash::of(pointer))
    }

    /// The position of the node whose pointer hashes to `hash`, if it has one.
    pub fn get_hash(&self, hash: PointerHash) -> Option<&Pos> {
        let i = self.keys.binary_search(&hash.finish()).ok()?;
        self.positions.get(i)
    }

    /// Whether the node at `pointer` has a position (it was written in the source).
    pub fn contains_key(&self, pointer: &str) -> bool {
        self.get(pointer).is_some()
    }

    /// How many nodes have a position.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Build from (pointer hash, position) pairs; of pairs with the same pointer the last one
    /// wins, as when inserting into a map one by one (a member written after a `<<` merge
    /// replaces the merged one, and so does its position).
    pub fn from_hashes(pairs: Vec<(PointerHash, Pos)>) -> Positions {
        let mut pairs: Vec<(u64, Pos)> = pairs.into_iter().map(|(h, p)| (h.finish(), p)).collect();
        // Stable: equal hashes keep their order, so the last of each run is the last given.
        pairs.sort_by_key(|&(h, _)| h);
        let mut keys = Vec::with_capacity(pairs.len());
        let mut positions = Vec::with_capacity(pairs.len());
        for (i, &(h, pos)) in pairs.iter().enumerate() {
            if pairs.get(i + 1).is_some_and(|&(next, _)| next == h) {
                continue;
            }
            keys.push(h);
            positions.push(pos);
        }
        Positions {
            keys: keys.into_boxed_slice(),
            positions: positions.into_boxed_slice(),
        }
    }

    /// The positions of the subtree at `prefix` (a `List`'s `/items/3`), with pointers relative
    /// to it, for `value`, the node at `prefix`. The pointers are those of `value`'s nodes:
    /// every node the reader gave a position is in the value it read.
    pub fn rebase(&self, prefix: &str, value: &Value) -> Positions {
        let mut out = Vec::new();
        self.rebase_into(PointerHash::of(prefix), PointerHash::ROOT, value, &mut out);
        Positions::from_hashes(out)
    }

    fn rebase_into(
        &self,
        full: PointerHash,
        relative: PointerHash,
        value: &Value,
        out: &mut Vec<(PointerHash, Pos)>,
    ) {
        if let Some(pos) = self.get_hash(full) {
            out.push((relative, *pos));
        }
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.rebase_into(full.child(k), relative.child(k), v, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.rebase_into(full.index(i), relative.index(i), v, out);
                }
            }
            _ => {}
        }
    }
}

impl<S: AsRef<str>> FromIterator<(S, Pos)> for Positions {
    fn from_iter<I: IntoIterator<Item = (S, Pos)>>(iter: I) -> Self {
        Positions::from_hashes(
            iter.into_iter()
                .map(|(p, pos)| (PointerHash::of(p.as_ref()), pos))
                .collect(),
        )
    }
}

impl From<std::collections::BTreeMap<String, Pos>> for Positions {
    fn from(map: std::collections::BTreeMap<String, Pos>) -> Self {
        map.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Positions {
    type Output = Pos;

    /// Panics when `pointer` has no position, like indexing a map (for tests).
    fn index(&self, pointer: &str) -> &Pos {
        self.get(pointer)
            .unwrap_or_else(|| panic!("no position for {pointer:?}"))
    }
}

/// The hash of a JSON pointer, built one token at a time, so that a reader walking a
/// document hashes each node's pointer from its parent's without writing the pointer out:
/// `PointerHash::ROOT.child("spec").index(0)` equals `PointerHash::of("/spec/0")`.
///
/// 64-bit FNV-1a over the pointer's text (tokens escaped as RFC 6901 says), with murmur3's
/// final avalanche when it is stored, so that pointers differing only near their end
/// (`/containers/0`, `/containers/1`) spread over the whole range. Not keyed: positions are
/// built from the user's own file, and a collision could only misplace a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointerHash(u64);

impl PointerHash {
    /// The document itself (the pointer `""`).
    pub const ROOT: PointerHash = PointerHash(0xcbf2_9ce4_8422_2325);

    /// The hash of a whole pointer (`/spec/template`), already escaped.
    pub fn of(pointer: &str) -> PointerHash {
        PointerHash::ROOT.bytes(pointer.as_bytes())
    }

    /// The member `name` of this node (`/` and the escaped name appended).
    pub fn child(self, name: &str) -> PointerHash {
        let mut h = self.byte(b'/');
        for &b in name.as_bytes() {
            h = match b {
                b'~' => h.byte(b'~').byte(b'0'),
                b'/' => h.byte(b'~').byte(b'1'),
                b => h.byte(b),
            };
        }
        h
    }

    /// The item `index` of this node (`/` and the decimal index appended).
    pub fn index(self, index: usize) -> PointerHash {
        let mut digits = [0u8; 20];
        let mut n = index;
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.byte(b'/').bytes(&digits[at..])
    }

    fn bytes(self, bytes: &[u8]) -> PointerHash {
        bytes.iter().fold(self, |h, &b| h.byte(b))
    }

    fn byte(self, b: u8) -> PointerHash {
        PointerHash((self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
    }

    /// The stored form: the FNV state mixed so that every input bit reaches every output bit.
    fn finish(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn at(line: u32) -> Pos {
        Pos {
            line,
            column: 1,
            offset: 0,
        }
    }

    #[test]
    fn looks_up_like_a_map() {
        let p: Positions = [("", at(1)), ("/spec", at(2)), ("/spec/replicas", at(3))]
            .into_iter()
            .collect();
        assert_eq!(p.len(), 3);
        assert_eq!(p.get("/spec").map(|p| p.line), Some(2));
        assert_eq!(p["/spec/replicas"].line, 3);
        assert!(p.contains_key(""));
        assert!(!p.contains_key("/spec/template"));
        assert!(!p.contains_key("/spe"));
    }

    #[test]
    fn the_last_of_a_repeated_pointer_wins_as_in_a_map() {
        let pairs = [("/a", at(1)), ("/b", at(2)), ("/a", at(3))];
        let p: Positions = pairs.into_iter().collect();
        let map: BTreeMap<String, Pos> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(p.len(), map.len());
        assert_eq!(p["/a"], map["/a"]);
        assert_eq!(Positions::from(map.clone())["/b"], map["/b"]);
    }

    #[test]
    fn hashing_token_by_token_equals_hashing_the_pointer() {
        let h = PointerHash::ROOT.child("metadata").child("annotations");
        assert_eq!(
            h.child("a/b~c"),
            PointerHash::of("/metadata/annotations/a~1b~0c")
        );
        assert_eq!(PointerHash::ROOT.index(0), PointerHash::of("/0"));
        assert_eq!(PointerHash::ROOT.index(1234), PointerHash::of("/1234"));
        assert_eq!(PointerHash::ROOT.child(""), PointerHash::of("/"));
        assert_ne!(PointerHash::ROOT.child("0"), PointerHash::ROOT);
    }

    #[test]
    fn rebase_keeps_the_subtree_under_relative_pointers() {
        let value = serde_json::json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}});
        let p: Positions = [
            ("/items/1", at(10)),
            ("/items/1/kind", at(11)),
            ("/items/1/spec", at(12)),
            ("/items/1/spec/containers/0/name", at(13)),
            ("/items/0/kind", at(2)),
        ]
        .into_iter()
        .collect();
        let item = p.rebase("/items/1", &value);
        assert_eq!(item.len(), 4);
        assert_eq!(item[""].line, 10);
        assert_eq!(item["/kind"].line, 11);
        assert_eq!(item["/spec/containers/0/name"].line, 13);
    }

    #[test]
    fn no_collisions_among_many_similar_pointers() {
        let pointers: Vec<String> = (0..20_000)
            .map(|i| format!("/spec/template/spec/containers/{i}/env/{}", i % 7))
            .collect();
        let p: Positions = pointers.iter().map(|s| (s.as_str(), at(1))).collect();
        assert_eq!(p.len(), pointers.len());
    }
}
