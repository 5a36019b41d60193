//! Two views' maps side by side: every key of either, in ascending order, merged from two
//! ascending sequences (a large file has tens of thousands of settings; no map is built).

use std::collections::BTreeMap;

/// A key of either map, with its value on each side.
pub(super) type Paired<'a, V> = (&'a String, (Option<&'a V>, Option<&'a V>));

/// Every key of two maps with its value on each side, in ascending order.
pub(super) fn pairs<'a, V: 'a>(
    a: impl Ascending<'a, V>,
    b: impl Ascending<'a, V>,
) -> Vec<Paired<'a, V>> {
    // A merge of two ascending sequences: no map is built (a large file has tens of thousands
    // of settings).
    let (mut a, mut b) = (a.ascending().peekable(), b.ascending().peekable());
    let mut out = Vec::new();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some((ka, _)), Some((kb, _))) => ka.cmp(kb),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return out,
        };
        match next {
            std::cmp::Ordering::Less => {
                let (k, v) = a.next().expect("peeked");
                out.push((k, (Some(v), None)));
            }
            std::cmp::Ordering::Greater => {
                let (k, v) = b.next().expect("peeked");
                out.push((k, (None, Some(v))));
            }
            std::cmp::Ordering::Equal => {
                let ((k, x), (_, y)) = (a.next().expect("peeked"), b.next().expect("peeked"));
                out.push((k, (Some(x), Some(y))));
            }
        }
    }
}

/// A map iterated in ascending key order, which [`pairs`] merges: the view's B-tree maps and
/// sorted slices, and nothing else.
pub(super) trait Ascending<'a, V: 'a> {
    /// Its entries, smallest key first.
    fn ascending(self) -> impl Iterator<Item = (&'a String, &'a V)>;
}

impl<'a, V: 'a> Ascending<'a, V> for &'a BTreeMap<String, V> {
    fn ascending(self) -> impl Iterator<Item = (&'a String, &'a V)> {
        self.iter()
    }
}

impl<'a, V: 'a> Ascending<'a, V> for &'a crate::governance::sorted::SortedMap<V> {
    fn ascending(self) -> impl Iterator<Item = (&'a String, &'a V)> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_either_side_once_in_order_with_both_values() {
        let a: BTreeMap<String, u8> = [("b", 1), ("c", 2), ("e", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let b: BTreeMap<String, u8> = [("a", 9), ("c", 8), ("d", 7)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let got: Vec<(&str, Option<u8>, Option<u8>)> = pairs(&a, &b)
            .into_iter()
            .map(|(k, (x, y))| (k.as_str(), x.copied(), y.copied()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", None, Some(9)),
                ("b", Some(1), None),
                ("c", Some(2), Some(8)),
                ("d", None, Some(7)),
                ("e", Some(3), None),
            ]
        );
        let empty = BTreeMap::new();
        assert_eq!(pairs(&empty, &a).len(), 3);
        assert!(pairs(&empty, &empty).is_empty());
    }
}
