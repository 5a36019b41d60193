//! Removing fields from a JSON document in one pass over its bytes, without building a tree:
//! every member a data-class pattern names (for the classes the partner may not receive) and,
//! with an allow-list, every member outside it. What is kept is never re-encoded: the answer is
//! the upstream's bytes with the removed members (and one comma each) cut out, so numbers of
//! any size or precision, escapes, key order and whitespace reach the partner as they were sent.

use std::ops::Range;

use super::pattern::{PatternSet, State, Step, push_escaped};
use super::scan::{self, JsonError, Lexer, Str};
use super::walk::{self, Dups, Keys, Kind, Sink};

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

/// Where the allow-list stands at a node.
#[derive(Debug, Clone)]
enum Allow {
    /// Everything below is allowed (no allow-list, or a pattern matched an ancestor).
    All,
    /// Only what the states in this range lead to.
    Within(Range<usize>),
}

/// One open array or object that is being filtered (inside a kept member, with rules).
struct Frame {
    kind: Kind,
    /// Pattern states for its children.
    classes: Range<usize>,
    allow: Allow,
    /// Where its states start on the stack (dropped when it closes).
    mark: usize,
    /// The next array index.
    index: usize,
    /// The current member's name (objects).
    key: Option<Str>,
    /// Where the current member starts (its name, or its value in an array).
    member_start: usize,
    /// A member was kept already.
    kept_any: bool,
    /// Where the last member's value ended.
    prev_end: usize,
    /// A removed member whose cut waits for the next member (or the close): (start, end).
    pending: Option<(usize, usize)>,
}

/// What a value that begins is to the walk.
enum Verdict {
    /// Removed (reported): its bytes, and one comma, are cut.
    Remove,
    /// Kept; a container's children are judged by these states (pushed at `mark`).
    Keep {
        classes: Range<usize>,
        allow: Allow,
        mark: usize,
    },
    /// Kept, and nothing below it can be removed: walked only for validity.
    Plain,
}

/// The walk's state: frames of kept containers, the pattern states, the cuts.
struct Walk<'f, 'a> {
    filter: &'f Filter<'f>,
    src: &'a str,
    frames: Vec<Frame>,
    stack: Vec<State>,
    /// Depth inside a removed member's value (cut whole, not filtered).
    removing: usize,
    /// Depth inside a kept value that nothing below can be removed from.
    plain: usize,
    /// The root's states.
    root: Option<(Range<usize>, Allow)>,
    cuts: Vec<Range<usize>>,
    removed: Removed,
    dups: Dups,
}

// === impl Filter ===

impl Filter<'_> {
    /// Filters `body`: the bytes with every removed member cut out (`None` when nothing was),
    /// and what was removed. Refuses what is not one strict JSON document (duplicate keys
    /// included, nested at most `MAX_DEPTH`).
    pub(crate) fn apply(&self, body: &[u8]) -> Result<(Option<Vec<u8>>, Removed), JsonError> {
        let mut lx = Lexer::new(body)?;
        let mut walk = Walk {
            filter: self,
            src: lx.src,
            frames: Vec::with_capacity(16),
            stack: Vec::with_capacity(64),
            removing: 0,
            plain: 0,
            root: None,
            cuts: Vec::new(),
            removed: Removed::default(),
            dups: Dups::new(Keys::Exact),
        };
        let classes = self.classes.start(&mut walk.stack, self.removes);
        let allow = match self.allow {
            None => Allow::All,
            Some(set) => Allow::Within(set.start(&mut walk.stack, |_| true)),
        };
        walk.root = Some((classes, allow));
        walk::walk(&mut lx, &mut walk)?;
        if walk.cuts.is_empty() {
            return Ok((None, walk.removed));
        }
        let mut out = Vec::with_capacity(body.len());
        let mut at = 0;
        for cut in &walk.cuts {
            out.extend_from_slice(&body[at..cut.start]);
            at = cut.end;
        }
        out.extend_from_slice(&body[at..]);
        Ok((Some(out), walk.removed))
    }
}

// === impl Walk ===

impl Walk<'_, '_> {
    /// A value begins at `start` (a container when `container`): the verdict on it as a
    /// member of the innermost frame.
    fn begin(&mut self, start: usize, container: bool) -> Verdict {
        let Some(frame) = self.frames.last_mut() else {
            // The root: judged by the patterns' start states.
            return match self.root.take() {
                Some((classes, allow)) if container => Verdict::Keep {
                    classes,
                    allow,
                    mark: 0,
                },
                _ => Verdict::Plain,
            };
        };
        let member_start = match frame.kind {
            Kind::Object => frame.member_start,
            _ => start,
        };
        // A removed member waiting for its end: it ends where this one starts.
        if let Some((p, _)) = frame.pending.take() {
            self.cuts.push(p..member_start);
        }
        frame.member_start = member_start;
        let key_text;
        let step = match (frame.kind, frame.key) {
            (Kind::Object, Some(k)) => {
                key_text = scan::text_of(self.src, k);
                Step::Key(&key_text)
            }
            _ => {
                frame.index += 1;
                Step::Index(frame.index - 1)
            }
        };
        let mark = self.stack.len();
        let (classes, hit) = self
            .filter
            .classes
            .step(&mut self.stack, frame.classes.clone(), step);
        let allow = match hit {
            Some(tag) => Err(tag),
            None => match (&frame.allow, self.filter.allow) {
                (Allow::Within(states), Some(set)) => {
                    match set.step(&mut self.stack, states.clone(), step) {
                        (_, Some(_)) => Ok(Allow::All),
                        (next, None) if !next.is_empty() && container => Ok(Allow::Within(next)),
                        _ => Err(OUTSIDE_ALLOW_LIST),
                    }
                }
                _ => Ok(Allow::All),
            },
        };
        match allow {
            Err(tag) => {
                self.stack.truncate(mark);
                self.report(tag, step);
                Verdict::Remove
            }
            Ok(Allow::All) if classes.is_empty() => {
                self.stack.truncate(mark);
                Verdict::Plain
            }
            Ok(allow) if container => Verdict::Keep {
                classes,
                allow,
                mark,
            },
            Ok(_) => {
                self.stack.truncate(mark);
                Verdict::Plain
            }
        }
    }

    /// The member that began last ends at `end`: kept, or removed with one comma.
    fn end(&mut self, end: usize, removed: bool) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        if removed {
            if frame.kept_any {
                self.cuts.push(frame.prev_end..end);
            } else {
                frame.pending = Some((frame.member_start, end));
            }
        } else {
            frame.kept_any = true;
        }
        frame.prev_end = end;
        frame.key = None;
    }

    fn report(&mut self, tag: u16, step: Step<'_>) {
        let removed = &mut self.removed;
        removed.count += 1;
        match removed.by_tag.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, n)) => *n += 1,
            None => removed.by_tag.push((tag, 1)),
        }
        if removed.pointers.len() >= MAX_REPORTED {
            return;
        }
        // The pointer is built only for what is reported: the members the frames above are
        // in, then this step.
        let mut pointer = String::new();
        let above = self.frames.len().saturating_sub(1);
        for f in &self.frames[..above] {
            match (f.kind, f.key) {
                (Kind::Object, Some(k)) => {
                    push_escaped(&mut pointer, Step::Key(&scan::text_of(self.src, k)));
                }
                _ => push_escaped(&mut pointer, Step::Index(f.index.saturating_sub(1))),
            }
        }
        push_escaped(&mut pointer, step);
        let pointer = capped(&pointer);
        let bytes = escaped_len(&pointer);
        if removed.reported_bytes + bytes <= MAX_REPORTED_BYTES {
            removed.reported_bytes += bytes;
            removed.pointers.push(pointer);
        }
    }
}

impl Sink for Walk<'_, '_> {
    fn scalar(&mut self, _: Kind, start: usize, end: usize, _: bool) -> Result<(), JsonError> {
        if self.removing > 0 || self.plain > 0 {
            return Ok(());
        }
        let removed = matches!(self.begin(start, false), Verdict::Remove);
        self.end(end, removed);
        Ok(())
    }

    fn open(&mut self, kind: Kind, start: usize) -> Result<(), JsonError> {
        if kind == Kind::Object {
            self.dups.open();
        }
        if self.removing > 0 {
            self.removing += 1;
            return Ok(());
        }
        if self.plain > 0 {
            self.plain += 1;
            return Ok(());
        }
        match self.begin(start, true) {
            Verdict::Remove => self.removing = 1,
            Verdict::Plain => self.plain = 1,
            Verdict::Keep {
                classes,
                allow,
                mark,
            } => self.frames.push(Frame {
                kind,
                classes,
                allow,
                mark,
                index: 0,
                key: None,
                member_start: start + 1,
                kept_any: false,
                prev_end: start + 1,
                pending: None,
            }),
        }
        Ok(())
    }

    fn key(&mut self, key: Str) -> Result<(), JsonError> {
        self.dups.key(key);
        if self.removing > 0 || self.plain > 0 {
            return Ok(());
        }
        if let Some(frame) = self.frames.last_mut() {
            frame.key = Some(key);
            frame.member_start = key.start;
        }
        Ok(())
    }

    fn close(&mut self, kind: Kind, end: usize) -> Result<(), JsonError> {
        if kind == Kind::Object {
            self.dups.close(self.src)?;
        }
        if self.removing > 0 {
            self.removing -= 1;
            if self.removing == 0 {
                self.end(end, true);
            }
            return Ok(());
        }
        if self.plain > 0 {
            self.plain -= 1;
            if self.plain == 0 {
                self.end(end, false);
            }
            return Ok(());
        }
        if let Some(frame) = self.frames.pop() {
            if let Some((p, e)) = frame.pending {
                self.cuts.push(p..e);
            }
            self.stack.truncate(frame.mark);
        }
        self.end(end, false);
        Ok(())
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
