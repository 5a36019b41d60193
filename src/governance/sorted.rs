//! Small maps and sets kept as one sorted slice: the same order, equality and JSON as a
//! `BTreeMap` or `BTreeSet` (so the governance view's canonical form and hash do not change),
//! without a B-tree node of eleven slots for a handful of entries (a partner's keys and grants:
//! 11 MB of the 10 000-partner view as B-trees).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Entries by key, sorted, each key once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedMap<V>(Box<[(String, V)]>);

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        Self(Box::default())
    }
}

impl<V> SortedMap<V> {
    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// As a `BTreeMap` collects: sorted, and a repeated key keeps its last value.
impl<V> FromIterator<(String, V)> for SortedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut entries: Vec<(String, V)> = iter.into_iter().collect();
        // Stable: entries of one key stay in the order given, and the last one stays.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, V)> = Vec::with_capacity(entries.len());
        for e in entries {
            match out.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => out.push(e),
            }
        }
        Self(out.into_boxed_slice())
    }
}

impl<'a, V> IntoIterator for &'a SortedMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SortedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, V>::deserialize(deserializer)?;
        Ok(Self(map.into_iter().collect()))
    }
}

/// Strings, sorted, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedSet(Box<[String]>);

impl SortedSet {
    /// The members in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    /// Whether `item` is a member.
    pub fn contains(&self, item: &str) -> bool {
        self.0.binary_search_by(|m| m.as_str().cmp(item)).is_ok()
    }

    /// The members of `self` that `other` does not have, in order.
    pub fn difference<'a>(&'a self, other: &'a Self) -> impl Iterator<Item = &'a String> {
        self.iter().filter(|m| !other.contains(m))
    }
}

impl FromIterator<String> for SortedSet {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut members: Vec<String> = iter.into_iter().collect();
        members.sort();
        members.dedup();
        Self(members.into_boxed_slice())
    }
}

impl Serialize for SortedSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for SortedSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let set = BTreeSet::<String>::deserialize(deserializer)?;
        Ok(Self(set.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_orders_compares_and_writes_as_a_btreemap_does() {
        let entries = [("b", 2), ("a", 1), ("c", 3), ("a", 4)];
        let sorted: SortedMap<i32> = entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let tree: BTreeMap<String, i32> =
            entries.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(
            serde_json::to_string(&sorted).expect("json"),
            serde_json::to_string(&tree).expect("json")
        );
        assert_eq!(
            sorted.iter().collect::<Vec<_>>(),
            tree.iter().collect::<Vec<_>>()
        );
        let back: SortedMap<i32> =
            serde_json::from_str(&serde_json::to_string(&tree).expect("json")).expect("read");
        assert_eq!(back, sorted);
        let other: SortedMap<i32> = [("a".to_owned(), 4), ("b".to_owned(), 2)]
            .into_iter()
            .collect();
        assert_ne!(other, sorted);
        assert_eq!(SortedMap::<i32>::default().iter().count(), 0);
    }

    #[test]
    fn a_set_orders_compares_and_writes_as_a_btreeset_does() {
        let items = ["b", "a", "c", "a"].map(str::to_owned);
        let sorted: SortedSet = items.iter().cloned().collect();
        let tree: BTreeSet<String> = items.iter().cloned().collect();
        assert_eq!(
            serde_json::to_string(&sorted).expect("json"),
            serde_json::to_string(&tree).expect("json")
        );
        assert!(sorted.iter().eq(tree.iter()));
        assert!(sorted.contains("a") && !sorted.contains("z"));
        let other: SortedSet = ["a", "d"].map(str::to_owned).into_iter().collect();
        let other_tree: BTreeSet<String> = ["a", "d"].map(str::to_owned).into_iter().collect();
        assert!(sorted.difference(&other).eq(tree.difference(&other_tree)));
        assert!(other.difference(&sorted).eq(other_tree.difference(&tree)));
        let back: SortedSet =
            serde_json::from_str(&serde_json::to_string(&tree).expect("json")).expect("read");
        assert_eq!(back, sorted);
        assert_eq!(SortedSet::default().iter().count(), 0);
    }
}
