//! The one byte scan JSON strings need, shared by the reader of bodies (`contract`) and the
//! writer of audit lines: where the next byte is that a string cannot hold as it is.

/// The first byte at or after `from` that a JSON string cannot carry unescaped — a quote, a
/// backslash or a control character — eight bytes at a time (bytes of UTF-8 beyond ASCII never
/// match).
pub fn next_special(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let rest = bytes.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) != 0 {
            return chunk.iter().position(|b| special(*b)).map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|b| special(*b))
        .map(|i| offset + i)
}

fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_at_every_offset_is_found_as_the_plain_scan_finds_it() {
        for b in 0u8..=255 {
            for at in 0..20 {
                let mut bytes = vec![b'a'; 20];
                bytes[at] = b;
                let plain = bytes.iter().position(|c| special(*c));
                assert_eq!(next_special(&bytes, 0), plain, "byte {b:#x} at {at}");
                assert_eq!(
                    next_special(&bytes, at.min(5)),
                    plain.filter(|p| *p >= at.min(5)),
                    "from {}",
                    at.min(5)
                );
            }
        }
        assert_eq!(next_special(b"abc", 3), None);
        assert_eq!(next_special(b"abc", 9), None);
    }
}
