//! Host validation (RFC 9112 §3.2, RFC 9113 §8.3.1): one well-formed authority per request,
//! or none at all for HTTP/1.0; never two that disagree.

use http::header::HOST;
use http::{HeaderMap, HeaderValue, Uri, Version};

/// Why a request's host was refused (the audit reason is always `bad_host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// More than one `Host` line.
    #[error("more than one Host header")]
    Duplicate,
    /// HTTP/1.1 without `Host`, or HTTP/2 without `:authority` or `host`.
    #[error("no Host header")]
    Missing,
    /// Not `host[:port]` (a path, user information, spaces, control bytes, a bad port ...).
    #[error("Host is not a valid host[:port]")]
    Malformed,
    /// An HTTP/2 `host` that differs from `:authority`.
    #[error("host header differs from :authority")]
    Mismatch,
}

/// The host the client addressed, validated: the absolute-form target's authority (HTTP/1)
/// or `:authority` (HTTP/2) when there is one, else the `Host` header; `None` for an
/// HTTP/1.0 request that names none.
pub fn validate(
    version: Version,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Option<HeaderValue>, HostError> {
    let mut hosts = headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Duplicate);
    }
    if let Some(h) = header {
        check(h.as_bytes())?;
    }
    let authority = match uri.authority() {
        Some(a) => {
            check(a.as_str().as_bytes())?;
            Some(HeaderValue::from_str(a.as_str()).map_err(|_| HostError::Malformed)?)
        }
        None => None,
    };
    match (version, authority, header) {
        // HTTP/2 and later: `host`, when sent, must say what `:authority` says.
        (Version::HTTP_2 | Version::HTTP_3, Some(a), Some(h)) => {
            if a.as_bytes().eq_ignore_ascii_case(h.as_bytes()) {
                Ok(Some(a))
            } else {
                Err(HostError::Mismatch)
            }
        }
        // HTTP/1 absolute form: the target's authority wins over Host (RFC 9112 §3.2.2).
        (_, Some(a), _) => Ok(Some(a)),
        (_, None, Some(h)) => Ok(Some(h.clone())),
        (Version::HTTP_09 | Version::HTTP_10, None, None) => Ok(None),
        (_, None, None) => Err(HostError::Missing),
    }
}

/// `host[:port]`: a registered name or IPv4 address of letters, digits, `-`, `.`, `_` and `~`,
/// or a bracketed IPv6 literal; an optional port of one to five digits up to 65535.
fn check(value: &[u8]) -> Result<(), HostError> {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let end = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(HostError::Malformed)?;
        let literal = &rest[..end];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
        if !ok {
            return Err(HostError::Malformed);
        }
        (literal, &rest[end + 1..])
    } else {
        let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let name = &value[..end];
        let ok = !name.is_empty()
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !ok {
            return Err(HostError::Malformed);
        }
        (name, &value[end..])
    };
    debug_assert!(!host.is_empty());
    match port {
        [] => Ok(()),
        [b':', digits @ ..]
            if (1..=5).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) =>
        {
            let n: u32 = digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'));
            if n <= 65_535 {
                Ok(())
            } else {
                Err(HostError::Malformed)
            }
        }
        _ => Err(HostError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h1(target: &str, hosts: &[&[u8]]) -> Result<Option<HeaderValue>, HostError> {
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(
                HOST,
                HeaderValue::from_bytes(h).unwrap_or(HeaderValue::from_static("x")),
            );
        }
        let uri: Uri = target.parse().unwrap_or_default();
        validate(Version::HTTP_11, &uri, &headers)
    }

    #[test]
    fn valid_hosts_pass_and_are_returned() {
        for host in [
            &b"gw"[..],
            b"gw.test:8080",
            b"127.0.0.1",
            b"[::1]:80",
            b"[2001:db8::1]",
            b"a_b-c.d~e",
            b"GW.TEST:65535",
        ] {
            let got = h1("/v1/x", &[host]);
            assert_eq!(
                got.as_ref().map(|h| h.as_ref().map(HeaderValue::as_bytes)),
                Ok(Some(host))
            );
        }
    }

    #[test]
    fn malformed_hosts_are_refused() {
        for host in [
            &b""[..],
            b"gw.test/internal?x=1",
            b"gw test",
            b"gw\tx",
            b"user@gw",
            b"gw:80x",
            b"gw:",
            b"gw:65536",
            b"gw:123456",
            b":80",
            b"[::1",
            b"[]",
            b"[::g]",
            b"[::1]x",
            b"gw%2f",
            b"gw#x",
            b"gw\\x",
        ] {
            assert_eq!(
                h1("/v1/x", &[host]),
                Err(HostError::Malformed),
                "{}",
                String::from_utf8_lossy(host)
            );
        }
    }

    #[test]
    fn one_host_is_required_on_http_1_1_and_none_needed_on_1_0() {
        assert_eq!(h1("/", &[]), Err(HostError::Missing));
        assert_eq!(h1("/", &[b"a", b"a"]), Err(HostError::Duplicate));
        let uri: Uri = "/".parse().unwrap_or_default();
        assert_eq!(
            validate(Version::HTTP_10, &uri, &HeaderMap::new()),
            Ok(None)
        );
    }

    #[test]
    fn absolute_form_uses_the_targets_authority_and_refuses_user_information() {
        let got = h1("http://gw.test/v1", &[b"other"]);
        assert_eq!(got, Ok(Some(HeaderValue::from_static("gw.test"))));
        assert_eq!(h1("http://u:p@gw/v1", &[b"gw"]), Err(HostError::Malformed));
        // Two Host lines are refused even when the target names the host.
        assert_eq!(h1("http://gw/v1", &[b"a", b"b"]), Err(HostError::Duplicate));
    }

    #[test]
    fn an_h2_host_must_match_the_authority() {
        let uri: Uri = "http://gw.test/v1".parse().unwrap_or_default();
        let mut headers = HeaderMap::new();
        assert!(validate(Version::HTTP_2, &uri, &headers).is_ok());
        headers.insert(HOST, HeaderValue::from_static("GW.test"));
        assert!(validate(Version::HTTP_2, &uri, &headers).is_ok());
        headers.insert(HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(
            validate(Version::HTTP_2, &uri, &headers),
            Err(HostError::Mismatch)
        );
        let bare: Uri = "/v1".parse().unwrap_or_default();
        assert_eq!(
            validate(Version::HTTP_2, &bare, &HeaderMap::new()),
            Err(HostError::Missing)
        );
    }
}
