//! Method overrides carried as parameters: a `_method` in the query or in a form body makes
//! Rails, Laravel, Symfony and Express (`method-override`) run another method than the one the
//! gateway authorised, so such a request is refused. A name is read the ways those frameworks
//! read it: percent-decoded (`+` as a space), without regard to case, and with PHP's
//! rewriting of leading spaces and of ` `, `.` and `[` into `_`.

/// The parameter that overrides the method, lower case.
const OVERRIDE: &[u8] = b"_method";

/// Whether a query string or an `application/x-www-form-urlencoded` body names `_method`.
/// Parameters are split on `&` and `;` (older Rack and Python split on both).
pub fn overrides_method(params: &[u8]) -> bool {
    params
        .split(|b| *b == b'&' || *b == b';')
        .map(|p| p.split(|b| *b == b'=').next().unwrap_or_default())
        .any(names_override)
}

/// Whether a `multipart/form-data` body has a part named `_method`: any
/// `Content-Disposition` line whose `name` (quoted or not, `name*` too) reads as `_method`.
/// Reading lines rather than parts errs on the side of refusing.
pub fn multipart_overrides_method(body: &[u8]) -> bool {
    const HEADER: &[u8] = b"content-disposition:";
    body.split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| l.len() > HEADER.len() && l[..HEADER.len()].eq_ignore_ascii_case(HEADER))
        .flat_map(|l| l[HEADER.len()..].split(|b| *b == b';'))
        .filter_map(|param| {
            let (name, value) = split_once(param.trim_ascii(), b'=')?;
            let name = name.trim_ascii();
            (name.eq_ignore_ascii_case(b"name") || name.eq_ignore_ascii_case(b"name*"))
                .then_some(value)
        })
        .any(|value| {
            let value = value.trim_ascii();
            // `name*=utf-8''%5Fmethod` (RFC 5987): the part after the language tag.
            let value = match value.iter().rposition(|b| *b == b'\'') {
                Some(i) if !value.starts_with(b"\"") => &value[i + 1..],
                _ => value,
            };
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            names_override(value)
        })
}

/// Whether one parameter name, as any of the frameworks reads it, is `_method`.
fn names_override(raw: &[u8]) -> bool {
    if raw.len() > 64 * 3 {
        return false;
    }
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => decoded.push(b' '),
            b'%' => match hex_pair(raw.get(i + 1..i + 3)) {
                Some(v) => {
                    decoded.push(v);
                    i += 2;
                }
                None => decoded.push(b'%'),
            },
            b => decoded.push(b),
        }
        i += 1;
    }
    // A C string ends at NUL.
    if let Some(end) = decoded.iter().position(|b| *b == 0) {
        decoded.truncate(end);
    }
    // PHP: `_method[]` is the array `_method`.
    let base = decoded.split(|b| *b == b'[').next().unwrap_or_default();
    let php = |name: &[u8], trim: bool| -> bool {
        let name = if trim { name.trim_ascii_start() } else { name };
        name.len() == OVERRIDE.len()
            && name
                .iter()
                .map(|b| match b {
                    b' ' | b'.' | b'[' => b'_',
                    b => b.to_ascii_lowercase(),
                })
                .eq(OVERRIDE.iter().copied())
    };
    php(&decoded, true) || php(&decoded, false) || php(base, true) || php(base, false)
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let hex = |c: u8| char::from(c).to_digit(16);
    let (hi, lo) = (hex(*pair.first()?)?, hex(*pair.get(1)?)?);
    u8::try_from(hi * 16 + lo).ok()
}

fn split_once(s: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|b| *b == at)?;
    Some((&s[..i], &s[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_method_is_found_and_nothing_else() {
        for q in [
            "_method=DELETE",
            "a=1&_method=DELETE",
            "a=1;_method=DELETE",
            "_METHOD=x",
            "%5Fmethod=x",
            "%5fMETHOD=x",
            "_%6D%65thod=x",
            "_method",
            "_method[]=DELETE",
            ".method=DELETE",
            "+method=DELETE",
            "%20_method=DELETE",
            "[method=DELETE",
            "_method%00junk=DELETE",
        ] {
            assert!(overrides_method(q.as_bytes()), "{q}");
        }
        for q in [
            "",
            "method=DELETE",
            "a_method=1",
            "_methods=1",
            "x=_method",
            "q=%5Fmethod",
            "_method_=1",
            "%5",
            "%",
            "_metho%",
        ] {
            assert!(!overrides_method(q.as_bytes()), "{q}");
        }
    }

    #[test]
    fn multipart_parts_named_method_are_found() {
        for body in [
            "--b\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n",
            "--b\r\ncontent-disposition: form-data; NAME=_METHOD\r\n\r\nDELETE\r\n--b--\r\n",
            "--b\r\nContent-Disposition: form-data; name*=utf-8''%5Fmethod\r\n\r\nx\r\n--b--",
        ] {
            assert!(multipart_overrides_method(body.as_bytes()), "{body}");
        }
        let ok = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"_method\"\r\n\r\n_method=DELETE\r\n--b--\r\n";
        assert!(!multipart_overrides_method(ok.as_bytes()));
    }
}
