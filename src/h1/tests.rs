//! The HTTP/1 codec without sockets: every framing rule of a head, the chunked decoder, and
//! the framing of answers.

use bytes::BytesMut;
use http::{HeaderValue, Method, Response, StatusCode, Version};
use http_body::SizeHint;

use super::body::{Decoded, RequestBody};
use super::encode::{self, Asked, Out};
use super::head::{Framing, Refused, parse_str};

/// (head, expected framing or refusal, keep-alive).
const HEADS: &[(&str, Result<Framing, Refused>, bool)] = &[
    (
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Ok(Framing::Empty),
        true,
    ),
    (
        "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
        Ok(Framing::Empty),
        false,
    ),
    (
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        Ok(Framing::Empty),
        true,
    ),
    (
        "GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n",
        Ok(Framing::Empty),
        false,
    ),
    (
        "GET / HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n",
        Ok(Framing::Empty),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
        Ok(Framing::Length(5)),
        true,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
        Ok(Framing::Length(5)),
        true,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 60\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 4, 60\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        Ok(Framing::Chunked),
        true,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Ok(Framing::Chunked),
        true,
    ),
    (
        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        Ok(Framing::Chunked),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        Ok(Framing::Chunked),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    (
        "GET / HTTP/1.1\r\nX-A: a\rX-B: b\r\n\r\n",
        Err(Refused::BadRequest),
        false,
    ),
    ("GET / HTTP/2.0\r\n\r\n", Err(Refused::BadRequest), false),
    ("G@T / HTTP/1.1\r\n\r\n", Err(Refused::BadRequest), false),
    (
        "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        Ok(Framing::Empty),
        false,
    ),
    (
        "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
        Ok(Framing::Empty),
        false,
    ),
    ("GET / HTTP/1.1\nHost: a\n\n", Ok(Framing::Empty), true),
];

#[test]
fn every_framing_rule_of_a_request_head() {
    for (i, (text, want, keep_alive)) in HEADS.iter().enumerate() {
        let got = parse_str(text).map(|h| h.map(|h| (h.framing, h.keep_alive)));
        match want {
            Ok(framing) => assert_eq!(got, Ok(Some((*framing, *keep_alive))), "case {i}: {text:?}"),
            Err(refused) => assert_eq!(got, Err(*refused), "case {i}: {text:?}"),
        }
    }
}

#[test]
fn a_head_is_taken_whole_with_what_follows_left_in_the_buffer() {
    let mut buf = BytesMut::from("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\nGET /next");
    let head = super::head::parse(&mut buf, &mut Vec::new())
        .expect("valid")
        .expect("complete");
    assert_eq!(head.request.method, Method::GET);
    assert_eq!(head.request.uri, "/a?b=1");
    assert_eq!(head.request.version, Version::HTTP_11);
    assert_eq!(head.request.headers["x-y"], "z");
    assert_eq!(&buf[..], b"GET /next");
    // Incomplete: nothing is taken.
    let mut partial = BytesMut::from("GET / HTTP/1.1\r\nHost: x\r\n");
    assert!(matches!(
        super::head::parse(&mut partial, &mut Vec::new()),
        Ok(None)
    ));
    assert_eq!(partial.len(), 25);
}

#[test]
fn too_many_fields_and_long_targets_have_their_own_statuses() {
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..=super::head::MAX_HEADERS {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(parse_str(&many).err(), Some(Refused::TooLarge));
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(70_000));
    assert_eq!(parse_str(&long).err(), Some(Refused::UriTooLong));
    let expect = parse_str("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
    assert!(expect.expect("valid").expect("complete").expect_continue);
}

/// Decodes all of `body` as one chunked body: the data, or the decoder's error.
fn dechunk(body: &str) -> Result<String, &'static str> {
    let mut buf = BytesMut::from(body);
    let (mut rb, feed) = RequestBody::new(Framing::Chunked, &mut buf);
    assert!(feed.is_none(), "the whole body was there: {body:?}");
    let mut out = Vec::new();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    loop {
        match http_body::Body::poll_frame(std::pin::Pin::new(&mut rb), &mut cx) {
            std::task::Poll::Ready(Some(Ok(f))) => {
                out.extend_from_slice(&f.into_data().unwrap_or_default());
            }
            std::task::Poll::Ready(Some(Err(_))) => return Err("error"),
            std::task::Poll::Ready(None) => break,
            std::task::Poll::Pending => panic!("pending"),
        }
    }
    Ok(String::from_utf8(out).expect("utf-8"))
}

#[test]
fn the_chunked_decoder_takes_valid_bodies_and_refuses_every_trick() {
    let ok = [
        ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        ("5;name=value\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5 ;ext\r\nhello\r\n0\r\n\r\n", "hello"),
        ("A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n", "0123456789"),
        ("0\r\n\r\n", ""),
    ];
    for (body, want) in ok {
        assert_eq!(dechunk(body).as_deref(), Ok(want), "{body:?}");
    }
    let bad = [
        "zz\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        ";x\r\nhello\r\n0\r\n\r\n",
        "5;a\nb\r\nhello\r\n0\r\n\r\n",
        "0\r\nTrailer: x\n\r\n",
    ];
    for body in bad {
        assert_eq!(dechunk(body), Err("error"), "{body:?}");
    }
}

#[test]
fn a_body_still_to_come_is_decoded_as_it_arrives() {
    let mut buf = BytesMut::from("5\r\nhel");
    let (_body, feed) = RequestBody::new(Framing::Chunked, &mut buf);
    let (_pipe, mut decoder) = feed.expect("the rest is still to come");
    assert!(buf.is_empty());
    buf.extend_from_slice(b"lo\r\n0\r\n\r\nGET /next");
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::Data("lo".into())));
    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::End));
    assert!(decoder.is_done());
    assert_eq!(&buf[..], b"GET /next");
    let mut buf = BytesMut::from("abc");
    let (body, feed) = RequestBody::new(Framing::Length(5), &mut buf);
    assert_eq!(http_body::Body::size_hint(&body).exact(), Some(5));
    let (_pipe, mut decoder) = feed.expect("two bytes to come");
    assert_eq!(
        decoder.decode(&mut BytesMut::from("deGET")),
        Ok(Decoded::Data("de".into()))
    );
    assert!(decoder.is_done());
}

/// Encodes `rsp` for `method` on `version` with a body of `hint`: the bytes and the framing.
fn answer(
    rsp: Response<()>,
    method: Method,
    version: Version,
    hint: SizeHint,
) -> (String, Out, bool) {
    let (mut parts, ()) = rsp.into_parts();
    let mut out = Vec::new();
    let asked = Asked {
        method: &method,
        version,
        keep_alive: true,
    };
    let (framing, keep) = encode::head(&mut out, &mut parts, &hint, &asked);
    (String::from_utf8(out).expect("ascii"), framing, keep)
}

#[test]
fn answers_are_framed_by_the_gateway_whatever_they_carried() {
    let exact = SizeHint::with_exact(2);
    let (text, out, keep) = answer(Response::new(()), Method::GET, Version::HTTP_11, exact);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ndate: "),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n"));
    assert_eq!((out, keep), (Out::Length(2), true));
    // Unknown length: chunked on HTTP/1.1, until close on HTTP/1.0.
    let unknown = SizeHint::default();
    let (text, out, _) = answer(Response::new(()), Method::GET, Version::HTTP_11, unknown);
    assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    assert_eq!(out, Out::Chunked);
    let (text, out, keep) = answer(Response::new(()), Method::GET, Version::HTTP_10, unknown);
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert_eq!((out, keep), (Out::UntilClose, false));
    // A framing header from upstream never decides: TE goes, a broken CL goes.
    let mut rsp = Response::new(());
    rsp.headers_mut()
        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    rsp.headers_mut()
        .insert("content-length", HeaderValue::from_static("1, 2"));
    let (text, out, _) = answer(rsp, Method::GET, Version::HTTP_11, SizeHint::with_exact(3));
    assert!(
        text.contains("content-length: 3\r\n") && !text.contains("1, 2"),
        "{text}"
    );
    assert_eq!(text.matches("transfer-encoding").count(), 0, "{text}");
    assert_eq!(out, Out::Length(3));
    // HEAD, 204 and 304 carry no body; `Connection: close` from the gateway ends the connection.
    let (_, out, _) = answer(Response::new(()), Method::HEAD, Version::HTTP_11, exact);
    assert_eq!(out, Out::Nothing);
    let mut no_content = Response::new(());
    *no_content.status_mut() = StatusCode::NO_CONTENT;
    let (text, out, _) = answer(no_content, Method::GET, Version::HTTP_11, exact);
    assert_eq!(out, Out::Nothing);
    assert!(!text.contains("content-length"), "{text}");
    let mut closing = Response::new(());
    closing
        .headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    let (_, _, keep) = answer(closing, Method::GET, Version::HTTP_11, exact);
    assert!(!keep);
}
