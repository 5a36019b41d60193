//! Field patterns: RFC 6901 JSON Pointers where a segment may also be `*` (any one key or array
//! index) or `**` (any depth, including none), run as a small NFA while a document is walked.

use std::ops::Range;

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A literal key (unescaped), also case-folded (clients that bind JSON to fields without
    /// regard to case would read `RAW_TEXT` as `raw_text`); it also matches the array index it
    /// spells.
    Key {
        name: Box<str>,
        folded: Box<str>,
        index: Option<usize>,
    },
    /// `*`: any one key or index.
    Any,
    /// `**`: any number of keys or indexes, none included.
    Deep,
}

/// A parsed pattern, e.g. `/**/raw_text` or `/items/*/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPattern {
    segs: Vec<Seg>,
    text: Box<str>,
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// It does not start with `/`.
    #[error("a field pattern is a JSON Pointer: it starts with '/', e.g. \"/**/raw_text\"")]
    NoLeadingSlash,
    /// A `~` not followed by `0` or `1`.
    #[error("'~' must be written '~0' and '/' inside a key '~1' (RFC 6901)")]
    BadEscape,
    /// It names the whole document (or only `**`), which would remove everything.
    #[error("the pattern must name a field: it cannot be the whole document")]
    WholeDocument,
}

/// A position in one pattern: (pattern index, segment index).
pub(crate) type State = (u16, u16);

/// One key of the document while walking it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step<'a> {
    /// An object member.
    Key(&'a str),
    /// An array element.
    Index(usize),
}

/// A set of patterns run together; each match reports the pattern's tag.
#[derive(Debug, Clone)]
pub struct PatternSet {
    patterns: Vec<(FieldPattern, u16)>,
    /// Keys compare exactly (an allow-list: keeping more is the unsafe side), not folded
    /// (data classes: removing more is the safe side).
    exact: bool,
    /// Every pattern is `/**/key`: stepping pushes nothing (see `step`).
    deep_only: bool,
}

// === impl FieldPattern ===

impl FieldPattern {
    /// Parses `/a/*/b`, `/**/raw_text`, `/a~1b` (the key `a/b`).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let rest = text.strip_prefix('/').ok_or(PatternError::NoLeadingSlash)?;
        let mut segs = Vec::new();
        for raw in rest.split('/') {
            let seg = match raw {
                "*" => Seg::Any,
                "**" => Seg::Deep,
                _ => {
                    let name = unescape(raw).ok_or(PatternError::BadEscape)?;
                    let index = (name == "0" || !name.starts_with('0'))
                        .then(|| name.parse().ok())
                        .flatten();
                    Seg::Key {
                        folded: fold(&name).into(),
                        name: name.into(),
                        index,
                    }
                }
            };
            // `**/**` is `**`.
            if !(seg == Seg::Deep && segs.last() == Some(&Seg::Deep)) {
                segs.push(seg);
            }
        }
        if segs.iter().all(|s| *s == Seg::Deep) {
            return Err(PatternError::WholeDocument);
        }
        Ok(Self {
            segs,
            text: text.into(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

pub(crate) use crate::normalize::fold;

/// Whether a document key is the (folded) pattern key.
fn same_key(folded: &str, key: &str) -> bool {
    // An ASCII key folds to its ASCII lower case, which a pattern key beyond ASCII never is:
    // comparing bytes ignoring ASCII case answers both (lengths first).
    if key.is_ascii() {
        folded.eq_ignore_ascii_case(key)
    } else {
        *folded == *fold(key)
    }
}

/// RFC 6901 unescaping: `~1` is `/`, `~0` is `~`.
fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Appends `/key`, RFC 6901-escaped, to a pointer.
pub(crate) fn push_escaped(pointer: &mut String, step: Step<'_>) {
    pointer.push('/');
    match step {
        Step::Key(k) => {
            for c in k.chars() {
                match c {
                    '~' => pointer.push_str("~0"),
                    '/' => pointer.push_str("~1"),
                    c => pointer.push(c),
                }
            }
        }
        Step::Index(i) => {
            use std::fmt::Write as _;
            let _ = write!(pointer, "{i}");
        }
    }
}

// === impl PatternSet ===

impl Default for PatternSet {
    fn default() -> Self {
        Self {
            patterns: Vec::new(),
            exact: false,
            deep_only: true,
        }
    }
}

impl PatternSet {
    /// An empty set whose keys compare exactly (for allow-lists).
    pub fn exact() -> Self {
        Self {
            patterns: Vec::new(),
            exact: true,
            deep_only: true,
        }
    }

    /// Adds a pattern whose matches report `tag`.
    pub fn push(&mut self, pattern: FieldPattern, tag: u16) {
        let deep = matches!(pattern.segs[..], [Seg::Deep, Seg::Key { .. }]);
        self.deep_only &= deep;
        self.patterns.push((pattern, tag));
    }

    /// Pushes the start states of the patterns `keep` selects (by tag) onto `stack`.
    pub(crate) fn start(&self, stack: &mut Vec<State>, keep: impl Fn(u16) -> bool) -> Range<usize> {
        let from = stack.len();
        for (i, (_, tag)) in self.patterns.iter().enumerate() {
            if keep(*tag) {
                self.close(stack, from, (i as u16, 0));
            }
        }
        from..stack.len()
    }

    /// Advances the states in `from` over `step`, pushing the next states onto `stack`.
    /// Returns the new range and the tag of the first pattern that now matches whole.
    pub(crate) fn step(
        &self,
        stack: &mut Vec<State>,
        from: Range<usize>,
        step: Step<'_>,
    ) -> (Range<usize>, Option<u16>) {
        if self.deep_only() {
            // Every pattern is `/**/key`: after any step the states are the ones before it
            // (`**` stays, and offers its key again), so none is pushed; a key state that
            // matches is a match.
            let mut matched = None;
            for &(p, pos) in &stack[from.clone()] {
                let (pattern, tag) = &self.patterns[usize::from(p)];
                if pos == 1 && self.key_matches(&pattern.segs[1], step) {
                    matched = matched.or(Some(*tag));
                }
            }
            return (from, matched);
        }
        let start = stack.len();
        let mut matched = None;
        for at in from {
            let (p, pos) = stack[at];
            let (pattern, tag) = &self.patterns[usize::from(p)];
            let next = match &pattern.segs[usize::from(pos)] {
                Seg::Deep => Some(pos),
                Seg::Any => Some(pos + 1),
                key @ Seg::Key { .. } => self.key_matches(key, step).then_some(pos + 1),
            };
            if let Some(next) = next {
                if usize::from(next) == pattern.segs.len() {
                    matched = matched.or(Some(*tag));
                } else {
                    self.close(stack, start, (p, next));
                }
                if usize::from(next) + 1 == pattern.segs.len()
                    && pattern.segs[usize::from(next)] == Seg::Deep
                {
                    // A trailing `**` matches with nothing more.
                    matched = matched.or(Some(*tag));
                }
            }
        }
        (start..stack.len(), matched)
    }

    /// Whether the literal segment `seg` matches `step` (never for `*` or `**`).
    fn key_matches(&self, seg: &Seg, step: Step<'_>) -> bool {
        match (seg, step) {
            (Seg::Key { name, .. }, Step::Key(k)) if self.exact => **name == *k,
            (Seg::Key { folded, .. }, Step::Key(k)) => same_key(folded, k),
            (Seg::Key { index, .. }, Step::Index(i)) => *index == Some(i),
            (Seg::Any | Seg::Deep, _) => false,
        }
    }

    /// Whether every pattern is `/**/key` (the data classes' usual shape).
    fn deep_only(&self) -> bool {
        self.deep_only
    }

    /// Pushes `state` and, while it stands on `**`, the state after it (which `**` may skip).
    /// A pattern's states are pushed next to each other, so a repeat can only be among the
    /// last few.
    fn close(&self, stack: &mut Vec<State>, from: usize, state: State) {
        let (p, mut pos) = state;
        let segs = &self.patterns[usize::from(p)].0.segs;
        loop {
            let repeat = stack[from..]
                .iter()
                .rev()
                .take_while(|s| s.0 == p)
                .any(|s| s.1 == pos);
            if !repeat {
                stack.push((p, pos));
            }
            if segs[usize::from(pos)] == Seg::Deep && usize::from(pos) + 1 < segs.len() {
                pos += 1;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &[Step<'_>]) -> bool {
        matches_in(PatternSet::default(), pattern, path)
    }

    fn matches_in(mut set: PatternSet, pattern: &str, path: &[Step<'_>]) -> bool {
        set.push(FieldPattern::parse(pattern).expect("pattern"), 7);
        let mut stack = Vec::new();
        let mut range = set.start(&mut stack, |_| true);
        for (i, s) in path.iter().enumerate() {
            let (next, hit) = set.step(&mut stack, range, *s);
            if hit.is_some() {
                return i + 1 == path.len();
            }
            range = next;
        }
        false
    }

    #[test]
    fn literal_any_and_deep_segments() {
        use Step::{Index as I, Key as K};
        assert!(matches("/a/b", &[K("a"), K("b")]));
        assert!(!matches("/a/b", &[K("a"), K("c")]));
        assert!(matches("/items/*/raw", &[K("items"), I(3), K("raw")]));
        assert!(matches("/items/2", &[K("items"), I(2)]));
        assert!(!matches("/items/02", &[K("items"), I(2)]));
        assert!(matches("/**/raw_text", &[K("raw_text")]));
        assert!(matches(
            "/**/raw_text",
            &[K("a"), I(0), K("b"), K("raw_text")]
        ));
        assert!(matches("/a/**", &[K("a")]));
        assert!(matches("/a/**/z", &[K("a"), K("b"), K("z")]));
        assert!(matches("/a~1b/c~0d", &[K("a/b"), K("c~d")]));
        // Keys match without regard to case, as lenient clients bind them.
        assert!(matches("/**/raw_text", &[K("RAW_TEXT")]));
        assert!(matches("/**/risk", &[K("RI\u{17f}K")]));
        assert!(matches("/**/kind", &[K("\u{212a}ind")]));
        assert!(matches("/**/limit", &[K("l\u{131}m\u{131}t")]));
        assert!(matches("/**/intelligence", &[K("\u{130}NTELLIGENCE")]));
        assert!(matches("/**/\u{3c3}", &[K("\u{3c2}")]));
        // An allow-list compares exactly.
        let exact = |p: &str, path: &[Step<'_>]| matches_in(PatternSet::exact(), p, path);
        assert!(exact("/id", &[K("id")]));
        assert!(!exact("/id", &[K("ID")]));
        assert!(!exact("/**/limit", &[K("l\u{131}m\u{131}t")]));
        assert!(exact("/a~1b/*", &[K("a/b"), I(0)]));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(
            FieldPattern::parse("raw"),
            Err(PatternError::NoLeadingSlash)
        );
        assert_eq!(FieldPattern::parse("/a~2"), Err(PatternError::BadEscape));
        assert_eq!(FieldPattern::parse("/**"), Err(PatternError::WholeDocument));
    }

    proptest::proptest! {
        /// `/**/key` sets take a shortcut (no states pushed); every step of every path must
        /// answer as the general automaton does.
        #[test]
        fn the_deep_only_shortcut_answers_as_the_automaton(
            keys in proptest::collection::vec(0usize..6, 1..4),
            path in proptest::collection::vec(0usize..9, 1..8),
        ) {
            const WORDS: [&str; 6] = ["raw_text", "RAW_TEXT", "id", "3", "ſecret", "secret"];
            let mut fast = PatternSet::default();
            for (tag, k) in keys.iter().enumerate() {
                let pattern = FieldPattern::parse(&format!("/**/{}", WORDS[*k])).expect("pattern");
                fast.push(pattern, tag as u16);
            }
            let mut slow = fast.clone();
            slow.deep_only = false;
            proptest::prop_assert!(fast.deep_only);
            let (mut fs, mut ss) = (Vec::new(), Vec::new());
            let (mut fr, mut sr) = (fast.start(&mut fs, |_| true), slow.start(&mut ss, |_| true));
            for p in path {
                let step = if p < 6 { Step::Key(WORDS[p]) } else { Step::Index(p - 3) };
                let (fnext, fhit) = fast.step(&mut fs, fr, step);
                let (snext, shit) = slow.step(&mut ss, sr, step);
                proptest::prop_assert_eq!(fhit, shit);
                let states = |st: &[State], r: Range<usize>| {
                    let mut v = st[r].to_vec();
                    v.sort_unstable();
                    v.dedup();
                    v
                };
                proptest::prop_assert_eq!(states(&fs, fnext.clone()), states(&ss, snext.clone()));
                fr = fnext;
                sr = snext;
            }
        }
    }
}
