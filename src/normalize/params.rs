//! Method overrides carried as parameters: a `_method` in the query or in a form body makes
//! Rails, Laravel, Symfony and Express (`method-override`) run another method than the one the
//! gateway authorised (and ASP.NET MVC reads `X-HTTP-Method-Override` from the query and the
//! form), so such a request is refused. A name is read the ways those frameworks read it.

/// Parameter names that override the method, lower case: `_method` (Rails/Rack, Laravel,
/// Symfony, Express `method-override`) and the names ASP.NET MVC also reads from the query and
/// the form.
const OVERRIDES: [&[u8]; 4] = [
    b"_method",
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
];

/// Whether a query string or an `application/x-www-form-urlencoded` body names a method
/// override. Parameters are split on `&` and `;` (older Rack and Python split on both).
pub fn overrides_method(params: &[u8]) -> bool {
    params
        .split(|b| *b == b'&' || *b == b';')
        .map(|p| p.split(|b| *b == b'=').next().unwrap_or_default())
        .any(names_override)
}

/// Whether a `multipart/form-data` body has a part named as a method override: any
/// `Content-Disposition` header (folded lines joined) whose `name` or `name*` — quoted with
/// `"` or `'`, or not — reads as one. Reading lines rather than parts errs on the side of
/// refusing.
pub fn multipart_overrides_method(body: &[u8]) -> bool {
    const HEADER: &[u8] = b"content-disposition:";
    let mut current: Option<Vec<u8>> = None;
    for line in body.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let folded = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        match (&mut current, folded) {
            (Some(c), true) => c.extend_from_slice(line),
            _ => {
                if current.take().is_some_and(|c| disposition_overrides(&c)) {
                    return true;
                }
                let l = line.trim_ascii_start();
                if l.len() > HEADER.len() && l[..HEADER.len()].eq_ignore_ascii_case(HEADER) {
                    current = Some(l[HEADER.len()..].to_vec());
                }
            }
        }
    }
    current.is_some_and(|c| disposition_overrides(&c))
}

/// Whether one `Content-Disposition` value names its part as a method override.
fn disposition_overrides(value: &[u8]) -> bool {
    value
        .split(|b| *b == b';')
        .filter_map(|param| {
            let i = param.iter().position(|b| *b == b'=')?;
            let (name, value) = (param[..i].trim_ascii(), param[i + 1..].trim_ascii());
            let extended = name.eq_ignore_ascii_case(b"name*");
            (name.eq_ignore_ascii_case(b"name") || extended).then_some((value, extended))
        })
        .any(|(value, extended)| {
            let unquoted = [b'"', b'\'']
                .iter()
                .find_map(|q| value.strip_prefix(&[*q])?.strip_suffix(&[*q]))
                .unwrap_or(value);
            // `name*=utf-8''%5Fmethod` (RFC 5987): the part after the language tag.
            let name = match unquoted.iter().rposition(|b| *b == b'\'') {
                Some(i) if extended => &unquoted[i + 1..],
                _ => unquoted,
            };
            names_override(name)
        })
}

/// Whether one parameter name (as sent), as any of the frameworks reads it, is a method
/// override: percent-decoded with `+` as a space, cut at NUL, without regard to case, and also
/// as PHP reads it (leading spaces dropped; ` `, `.` and an unmatched `[` read as `_`;
/// `name[...]` is `name`) and as Rack 2 and `qs` read it (`[_method]`, `_method]`).
pub fn names_override(raw: &[u8]) -> bool {
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
    let name = match decoded.iter().position(|b| *b == 0) {
        Some(end) => &decoded[..end],
        None => &decoded[..],
    };
    let trimmed = name.trim_ascii_start();
    // Rack 2: `\A[\[\]]*([^\[\]]+)\]*`.
    let rack = {
        let start = name
            .iter()
            .position(|b| *b != b'[' && *b != b']')
            .unwrap_or(name.len());
        let rest = &name[start..];
        let end = rest
            .iter()
            .position(|b| *b == b'[' || *b == b']')
            .unwrap_or(rest.len());
        &rest[..end]
    };
    let base =
        |n: &'_ [u8]| -> Vec<u8> { n.split(|b| *b == b'[').next().unwrap_or_default().to_vec() };
    let php = |n: &[u8]| -> Vec<u8> {
        n.iter()
            .map(|b| match b {
                b' ' | b'.' | b'[' => b'_',
                b => *b,
            })
            .collect()
    };
    let readings = [
        name.to_vec(),
        trimmed.to_vec(),
        rack.to_vec(),
        base(trimmed),
        php(trimmed),
        php(name),
    ];
    readings
        .iter()
        .any(|r| OVERRIDES.iter().any(|o| r.eq_ignore_ascii_case(o)))
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let hex = |c: u8| char::from(c).to_digit(16);
    let (hi, lo) = (hex(*pair.first()?)?, hex(*pair.get(1)?)?);
    u8::try_from(hi * 16 + lo).ok()
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
            "[_method]=DELETE",
            "]_method=DELETE",
            "_method]=DELETE",
            "X-HTTP-Method-Override=DELETE",
            "x-http-method=PUT",
            "X-Method-Override=PUT",
        ] {
            assert!(overrides_method(q.as_bytes()), "{q}");
        }
        let long = format!("{}_method=DELETE", "+".repeat(300));
        assert!(
            overrides_method(long.as_bytes()),
            "PHP drops leading spaces"
        );
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
            "--b\r\nContent-Disposition: form-data; name='_method'\r\n\r\nDELETE\r\n--b--\r\n",
            "--b\r\nContent-Disposition: form-data;\r\n name=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n",
            "--b\r\nContent-Disposition: form-data;\r\n\tname=\"x-http-method-override\"\r\n\r\nDELETE\r\n--b--",
        ] {
            assert!(multipart_overrides_method(body.as_bytes()), "{body}");
        }
        let ok = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"_method\"\r\n\r\n_method=DELETE\r\n--b--\r\n";
        assert!(!multipart_overrides_method(ok.as_bytes()));
    }
}
