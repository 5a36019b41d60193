//! Removing fields from a parsed JSON document: every field a data-class pattern names (for
//! the classes the partner may not receive) and, with an allow-list, every field outside it.

use serde_json::Value;

use super::pattern::{PatternSet, State, Step, push_escaped};

/// Most pointers kept in a report (the count goes on).
pub const MAX_REPORTED: usize = 32;
/// Most bytes of one reported pointer; a longer one is cut and ends with `…`.
const MAX_POINTER: usize = 128;
/// Most bytes of all reported pointers together (JSON-escaped), so an audit line stays small.
const MAX_REPORTED_BYTES: usize = 2048;

/// The tag the allow-list reports for a field it removes.
pub const OUTSIDE_ALLOW_LIST: u16 = u16::MAX;

/// What filtering removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// The first `MAX_REPORTED` pointers removed, in document order.
    pub pointers: Vec<String>,
    /// How many fields were removed in all.
    pub count: usize,
    /// How many of them each tag removed (tag, count).
    pub by_tag: Vec<(u16, usize)>,
    /// Bytes the reported pointers take, JSON-escaped.
    reported_bytes: usize,
}

/// The patterns to remove and, optionally, the only patterns to keep.
pub(crate) struct Filter<'a> {
    /// Data-class patterns; tags select which apply.
    pub classes: &'a PatternSet,
    /// Whether the class with this tag is removed.
    pub removes: &'a dyn Fn(u16) -> bool,
    /// The allow-list, if the route has one.
    pub allow: Option<&'a PatternSet>,
}

/// The walk's working memory: one stack of NFA states, the current pointer, the report.
struct Walk<'a> {
    filter: &'a Filter<'a>,
    stack: Vec<State>,
    pointer: String,
    removed: Removed,
}

/// Where the allow-list stands at a node.
#[derive(Clone)]
enum Allow {
    /// Everything below is allowed (no allow-list, or a pattern matched an ancestor).
    All,
    /// Only what the states in this range lead to.
    Within(std::ops::Range<usize>),
}

// === impl Filter ===

impl Filter<'_> {
    /// Removes what the filter names from `doc`; reports what went.
    pub(crate) fn apply(&self, doc: &mut Value) -> Removed {
        let mut walk = Walk {
            filter: self,
            stack: Vec::with_capacity(64),
            pointer: String::with_capacity(64),
            removed: Removed::default(),
        };
        let classes = self.classes.start(&mut walk.stack, self.removes);
        let allow = match self.allow {
            None => Allow::All,
            Some(set) => Allow::Within(set.start(&mut walk.stack, |_| true)),
        };
        walk.node(doc, classes, allow);
        walk.removed
    }
}

// === impl Walk ===

impl Walk<'_> {
    /// Filters the children of `node` (objects and arrays; scalars have none).
    fn node(&mut self, node: &mut Value, classes: std::ops::Range<usize>, allow: Allow) {
        match node {
            Value::Object(map) => map
                .retain(|k, child| self.child(Step::Key(k), child, classes.clone(), allow.clone())),
            Value::Array(items) => {
                let mut i = 0;
                items.retain_mut(|child| {
                    let keep = self.child(Step::Index(i), child, classes.clone(), allow.clone());
                    i += 1;
                    keep
                });
            }
            _ => {}
        }
    }

    /// Decides one child: removed (false) or kept, and then filtered itself.
    fn child(
        &mut self,
        step: Step<'_>,
        child: &mut Value,
        classes: std::ops::Range<usize>,
        allow: Allow,
    ) -> bool {
        let mark = self.stack.len();
        let len = self.pointer.len();
        push_escaped(&mut self.pointer, step);
        let keep = self.decide(step, child, classes, allow);
        self.pointer.truncate(len);
        self.stack.truncate(mark);
        keep
    }

    fn decide(
        &mut self,
        step: Step<'_>,
        child: &mut Value,
        classes: std::ops::Range<usize>,
        allow: Allow,
    ) -> bool {
        let (classes, hit) = self.filter.classes.step(&mut self.stack, classes, step);
        if let Some(tag) = hit {
            self.report(tag);
            return false;
        }
        let allow = match (allow, self.filter.allow) {
            (Allow::Within(states), Some(set)) => match set.step(&mut self.stack, states, step) {
                (_, Some(_)) => Allow::All,
                (next, None) if !next.is_empty() && is_container(child) => Allow::Within(next),
                _ => {
                    self.report(OUTSIDE_ALLOW_LIST);
                    return false;
                }
            },
            _ => Allow::All,
        };
        if is_container(child) && (!classes.is_empty() || matches!(allow, Allow::Within(_))) {
            self.node(child, classes, allow);
        }
        true
    }

    fn report(&mut self, tag: u16) {
        let removed = &mut self.removed;
        removed.count += 1;
        match removed.by_tag.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, n)) => *n += 1,
            None => removed.by_tag.push((tag, 1)),
        }
        if removed.pointers.len() < MAX_REPORTED {
            let pointer = capped(&self.pointer);
            let bytes = escaped_len(&pointer);
            if removed.reported_bytes + bytes <= MAX_REPORTED_BYTES {
                removed.reported_bytes += bytes;
                removed.pointers.push(pointer);
            }
        }
    }
}

/// The length of `s` once written as a JSON string (quotes included).
fn escaped_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Object(_) | Value::Array(_))
}

/// `pointer`, at most `MAX_POINTER` bytes (cut on a character boundary, marked `…`).
fn capped(pointer: &str) -> String {
    if pointer.len() <= MAX_POINTER {
        return pointer.to_owned();
    }
    let mut end = MAX_POINTER;
    while !pointer.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &pointer[..end])
}
