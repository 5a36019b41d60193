//! One HTTP/1.x request head, parsed with `httparse` into `http` types without copying: the
//! framing rules are hyper's server's (RFC 9112 §6.1–6.3), kept rule for rule so the partner
//! side frames every request exactly as it did on hyper.
//!
//! `Transfer-Encoding` whose last coding is not `chunked` (or any on HTTP/1.0): 400.
//! `Content-Length` that is not all digits, or two that differ: 400. Both headers: the body is
//! chunked, `Content-Length` is dropped and the connection ends after the answer. More than
//! [`MAX_HEADERS`] fields or a head past the read buffer: 431. A target past 65,534 bytes: 414.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};

/// Header fields one request may carry (hyper's default).
pub(super) const MAX_HEADERS: usize = 100;

/// The longest request target (hyper's limit).
const MAX_URI_LEN: usize = (u16::MAX - 1) as usize;

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed head and what it says about the connection.
#[derive(Debug)]
pub(super) struct Head {
    /// Method, target, version and fields.
    pub request: http::request::Parts,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
}

/// Why a head was refused before the gateway saw it: the status of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// 400: not HTTP/1.x, or framed ambiguously.
    BadRequest,
    /// 431: too many fields, or a head past the read buffer.
    TooLarge,
    /// 414.
    UriTooLong,
}

/// Where a field's name and value sit in the head.
type Spans = Vec<[usize; 4]>;

/// Parses the head at the start of `buf`, taking it out of `buf` when it is complete;
/// `Ok(None)` when more bytes are needed. `spans` is scratch space kept by the connection.
pub(super) fn parse(buf: &mut BytesMut, spans: &mut Spans) -> Result<Option<Head>, Refused> {
    spans.clear();
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let base = buf.as_ptr() as usize;
    let (len, method, target, http11) = match httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut fields)
    {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version)
            else {
                return Err(Refused::BadRequest);
            };
            if path.len() > MAX_URI_LEN {
                return Err(Refused::UriTooLong);
            }
            let method = Method::from_bytes(method.as_bytes()).map_err(|_| Refused::BadRequest)?;
            let start = path.as_ptr() as usize - base;
            for f in req.headers.iter() {
                let name = f.name.as_ptr() as usize - base;
                let value = f.value.as_ptr() as usize - base;
                spans.push([name, name + f.name.len(), value, value + f.value.len()]);
            }
            (len, method, start..start + path.len(), version == 1)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refused::TooLarge),
        Err(_) => return Err(Refused::BadRequest),
    };
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target)).map_err(|_| Refused::BadRequest)?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut framing = Framing::Empty;
    let (mut keep_alive, mut saw_close) = (http11, false);
    let (mut te, mut cl, mut saw_cl) = (false, None, false);
    let (mut chunked, mut expect_continue) = (false, false);
    for &[n0, n1, v0, v1] in spans.iter() {
        let name = HeaderName::from_bytes(&head[n0..n1]).map_err(|_| Refused::BadRequest)?;
        let value =
            HeaderValue::from_maybe_shared(head.slice(v0..v1)).map_err(|_| Refused::BadRequest)?;
        match name {
            TRANSFER_ENCODING => {
                if !http11 {
                    return Err(Refused::BadRequest);
                }
                te = true;
                if cl.take().is_some() {
                    headers.remove(CONTENT_LENGTH);
                }
                chunked = last_coding_is_chunked(&value);
                framing = Framing::Chunked;
            }
            CONTENT_LENGTH => {
                saw_cl = true;
                if te {
                    continue;
                }
                let len = digits(value.as_bytes()).ok_or(Refused::BadRequest)?;
                match cl {
                    Some(prev) if prev != len => return Err(Refused::BadRequest),
                    Some(_) => continue,
                    None => {
                        cl = Some(len);
                        framing = Framing::Length(len);
                    }
                }
            }
            CONNECTION => {
                if saw_close || has_token(&value, b"close") {
                    saw_close = true;
                    keep_alive = false;
                } else if !keep_alive {
                    keep_alive = has_token(&value, b"keep-alive");
                }
            }
            EXPECT => expect_continue = value.as_bytes().eq_ignore_ascii_case(b"100-continue"),
            // The gateway never upgrades: such a connection ends after its answer.
            UPGRADE => keep_alive = false,
            _ => {}
        }
        headers.append(name, value);
    }
    if te && !chunked {
        return Err(Refused::BadRequest);
    }
    if te && saw_cl {
        // Both: the body is chunked (`Content-Length` was dropped above), and the connection
        // is not reused.
        keep_alive = false;
    }
    if method == Method::CONNECT {
        keep_alive = false;
    }
    let mut request = Request::new(()).into_parts().0;
    request.method = method;
    request.uri = uri;
    request.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    request.headers = headers;
    Ok(Some(Head {
        request,
        framing,
        keep_alive,
        expect_continue: expect_continue && http11,
    }))
}

/// `Content-Length`: decimal digits only (no sign, no list), within `u64`.
pub(super) fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, b| match b {
        b'0'..=b'9' => n.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    })
}

/// Whether `chunked` is the last transfer coding of this field line.
fn last_coding_is_chunked(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .rsplit(|b| *b == b',')
        .next()
        .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

/// Whether a comma-separated field names `token` (case-insensitively).
fn has_token(value: &HeaderValue, token: &[u8]) -> bool {
    value
        .as_bytes()
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// The bytes of a head, for tests.
#[cfg(test)]
pub(super) fn parse_str(s: &str) -> Result<Option<Head>, Refused> {
    parse(&mut BytesMut::from(s), &mut Vec::new())
}
