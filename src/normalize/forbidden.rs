//! Forbidden prefixes and segments by meaning, not spelling: a segment is compared as the
//! upstreams behind the gateway may read it — percent-decoded, without `;parameters`, in
//! Unicode compatibility form (NFKC: `ｄｂ` is `db`), case-folded as lenient binders fold
//! (`ı`, `İ`, `ſ` and `K` included), without trailing dots and spaces (Windows and IIS drop
//! them) — and also by its part before the first `.` (old Spring matched `db.json` as `db`).

use std::borrow::Cow;

/// The compiled forbidden lists of a configuration.
#[derive(Debug, Clone, Default)]
pub struct Forbidden {
    /// Each prefix as configured (lower case) and the meanings of its segments.
    prefixes: Vec<(String, Vec<String>)>,
    /// The meanings of the forbidden segments.
    segments: Vec<String>,
}

// === impl Forbidden ===

impl Forbidden {
    /// Compiles canonical lower-case prefixes (`/internal`) and segment names (`db`).
    pub fn new(prefixes: &[String], segments: &[String]) -> Self {
        Self {
            prefixes: prefixes
                .iter()
                .map(|p| {
                    let segs = p
                        .trim_start_matches('/')
                        .split('/')
                        .filter(|s| !s.is_empty())
                        .map(|s| meaning(s).into_owned())
                        .collect();
                    (p.clone(), segs)
                })
                .collect(),
            segments: segments.iter().map(|s| meaning(s).into_owned()).collect(),
        }
    }

    /// The prefix a normalised path lies under, if any: by spelling (ASCII case ignored), or
    /// by the meaning of each of its first segments.
    pub fn prefix(&self, path: &str) -> Option<&str> {
        // The meaning of the path's first segment, computed once for every prefix.
        let mut first = None;
        self.prefixes
            .iter()
            .find(|(text, segs)| {
                let by_spelling = path.len() >= text.len()
                    && path.as_bytes()[..text.len()].eq_ignore_ascii_case(text.as_bytes());
                by_spelling || {
                    let Some((head, rest)) = segs.split_first() else {
                        return false;
                    };
                    let lead = first.get_or_insert_with(|| segments(path).next().map(Meaning::of));
                    if !lead.as_ref().is_some_and(|m| m.is(head)) {
                        return false;
                    }
                    let mut path_segs = segments(path).skip(1);
                    rest.iter()
                        .all(|f| path_segs.next().is_some_and(|s| Meaning::of(s).is(f)))
                }
            })
            .map(|(text, _)| text.as_str())
    }

    /// The first segment of a normalised path (or a route template, whose `{params}` are
    /// skipped) that means a forbidden segment.
    pub fn segment<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.segments.is_empty() {
            return None;
        }
        segments(path).filter(|s| !s.starts_with('{')).find(|s| {
            let m = Meaning::of(s);
            self.segments.iter().any(|f| m.is(f))
        })
    }
}

/// The non-empty segments of a path.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    // Segments are short: a plain byte loop beats a vectorised search's setup.
    let mut rest = path;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
            let seg = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            if !seg.is_empty() {
                return Some(seg);
            }
        }
    })
}

/// A segment's meaning, computed once for every entry it is compared with: plain ASCII (the
/// common case) is compared in place, ignoring case; anything else is decoded and folded.
/// `head` is the length of its part before the first `.`.
struct Meaning<'a> {
    text: Cow<'a, str>,
    plain: bool,
    head: usize,
}

impl<'a> Meaning<'a> {
    fn of(seg: &'a str) -> Self {
        let plain = plain(seg);
        let text = if plain {
            Cow::Borrowed(seg.trim_end_matches(['.', ' ']))
        } else {
            Cow::Owned(meaning(seg).into_owned())
        };
        let head = text.bytes().position(|b| b == b'.').unwrap_or(text.len());
        Self { text, plain, head }
    }

    /// Whether it means the forbidden entry `entry` (already a meaning): the whole of it, or
    /// its part before the first `.`.
    fn is(&self, entry: &str) -> bool {
        let (whole, head) = (&*self.text, &self.text[..self.head]);
        if self.plain {
            whole.eq_ignore_ascii_case(entry)
                || (head.len() < whole.len() && head.eq_ignore_ascii_case(entry))
        } else {
            whole == entry || head == entry
        }
    }
}

/// ASCII without escapes or parameters: its meaning is itself, upper-cased and trimmed.
fn plain(seg: &str) -> bool {
    seg.bytes().all(|b| b.is_ascii() && b != b'%' && b != b';')
}

/// A segment's meaning: percent-decoded, cut at `;`, NFKC, case-folded, without trailing dots
/// and spaces. ASCII without escapes (the common case) is only upper-cased and trimmed.
fn meaning(seg: &str) -> Cow<'_, str> {
    if plain(seg) {
        let trimmed = seg.trim_end_matches(['.', ' ']);
        return if trimmed.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(trimmed.to_ascii_uppercase())
        } else {
            Cow::Borrowed(trimmed)
        };
    }
    let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
    let cut = decoded.split(';').next().unwrap_or_default();
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(cut);
    let folded = super::fold(&nfkc);
    Cow::Owned(folded.trim_end_matches(['.', ' ']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_a_forbidden_segment_mean_it() {
        let f = Forbidden::new(
            &["/internal".into(), "/v1/admin".into()],
            &["internal".into(), "db".into()],
        );
        for path in [
            "/v1/reports/db",
            "/v1/reports/DB",
            "/v1/reports/internal.",
            "/v1/reports/internal..",
            "/v1/reports/db%20",
            "/v1/reports/db.json",
            "/v1/reports/Db.tar.gz",
            "/v1/reports/DB;v=1",
            "/v1/reports/%EF%BD%84%EF%BD%82",
            "/v1/reports/%C4%B1nternal",
            "/v1/reports/%C4%B0NTERNAL",
            "/v1/reports/%E2%85%B0nternal",
            "/v1/reports/INTERNAL%EF%BC%8E",
            "/v1/reports/d%E2%80%8Bb.",
        ] {
            let hit = f.segment(path).is_some();
            // A zero-width space is not removed by NFKC: that spelling is another name.
            assert_eq!(hit, !path.contains("%E2%80%8B"), "{path}");
        }
        for path in [
            "/v1/reports/dbx",
            "/v1/reports/internally",
            "/v1/a.db",
            "/v1/{db}",
        ] {
            assert_eq!(f.segment(path), None, "{path}");
        }
        for path in [
            "/internal/x",
            "/INTERNALS",
            "/internal./x",
            "/%EF%BD%89nternal/x",
            "/v1/ADMIN./users",
            "/v1/%EF%BD%81dmin",
        ] {
            assert!(f.prefix(path).is_some(), "{path}");
        }
        for path in ["/v1/reports", "/v1/adm", "/x/internal"] {
            assert_eq!(f.prefix(path), None, "{path}");
        }
    }
}
