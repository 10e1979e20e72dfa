//! The proxy-wasm wire format for header maps, decoded without trusting the host.
//!
//! Layout (all integers little-endian `u32`):
//!
//! ```text
//! count | name_len[0] value_len[0] | ... | name_len[n-1] value_len[n-1] |
//! name[0] NUL value[0] NUL | ... | name[n-1] NUL value[n-1] NUL
//! ```
//!
//! This is what the SDK's private `hostcalls::utils::{serialize_map, deserialize_map}`
//! read and write. The SDK indexes the buffer directly and `unwrap()`s, so a short or
//! inconsistent buffer from the host panics and kills the VM for every stream on the
//! worker. Here every length is checked against the buffer before it is used, and
//! invalid UTF-8 is replaced rather than rejected (a header value with a stray byte
//! must not fail the whole map). Pure: no proxy-wasm, so it is tested natively.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use std::fmt;

/// Why a serialised header map could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// The buffer ends before the count, the length table, a name, a value or a terminator.
    Truncated,
    /// The byte after a name or value is not the NUL the format requires: the
    /// declared lengths do not describe this buffer.
    MissingTerminator,
}

impl CodecError {
    /// A stable snake_case code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            CodecError::Truncated => "header_map_truncated",
            CodecError::MissingTerminator => "header_map_missing_terminator",
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecError::Truncated => "header map is shorter than its declared lengths",
            CodecError::MissingTerminator => "header map entry is not followed by a nul byte",
        })
    }
}

impl std::error::Error for CodecError {}

/// Width of one length field.
const U32_LEN: usize = 4;

/// A length as the format's `u32`. On wasm32 `usize` is 32 bits, so nothing held in
/// memory can be longer; natively the value saturates rather than wrapping.
fn wire_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Serialises header pairs for the host (`proxy_send_local_response`,
/// `proxy_http_call`, `proxy_set_header_map_pairs`), byte for byte as the SDK does.
pub fn serialize_map(map: &[(&str, &str)]) -> Vec<u8> {
    let size = map.iter().fold(U32_LEN, |acc, (name, value)| {
        acc.saturating_add(name.len())
            .saturating_add(value.len())
            .saturating_add(2 * U32_LEN + 2)
    });
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&wire_len(map.len()).to_le_bytes());
    for (name, value) in map {
        bytes.extend_from_slice(&wire_len(name.len()).to_le_bytes());
        bytes.extend_from_slice(&wire_len(value.len()).to_le_bytes());
    }
    for (name, value) in map {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// Reads a little-endian `u32` at `at`, or `None` if it does not fit in `bytes`.
fn read_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let end = at.checked_add(U32_LEN)?;
    let field: [u8; U32_LEN] = bytes.get(at..end)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(field)).ok()
}

/// Takes `len` bytes at `*pos` followed by a NUL and advances `*pos` past both.
fn take_entry<'a>(bytes: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], CodecError> {
    let end = pos.checked_add(len).ok_or(CodecError::Truncated)?;
    let entry = bytes.get(*pos..end).ok_or(CodecError::Truncated)?;
    match bytes.get(end) {
        Some(0) => {}
        Some(_) => return Err(CodecError::MissingTerminator),
        None => return Err(CodecError::Truncated),
    }
    *pos = end.checked_add(1).ok_or(CodecError::Truncated)?;
    Ok(entry)
}

/// Owned text from header bytes; invalid UTF-8 becomes U+FFFD instead of failing.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decodes a header map from the host.
///
/// An empty buffer is an empty map (as in the SDK). Bytes after the last entry are
/// ignored (as in the SDK): they cannot shift any entry. Everything else that does
/// not match the declared lengths is an error; nothing here can index out of bounds,
/// overflow, or allocate more than the buffer's own size.
pub fn deserialize_map(bytes: &[u8]) -> Result<Vec<(String, String)>, CodecError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(bytes, 0).ok_or(CodecError::Truncated)?;
    // Check the whole length table fits before reserving `count` entries, so a
    // hostile count cannot trigger a huge allocation.
    let table_end = count
        .checked_mul(2 * U32_LEN)
        .and_then(|table| table.checked_add(U32_LEN))
        .ok_or(CodecError::Truncated)?;
    if table_end > bytes.len() {
        return Err(CodecError::Truncated);
    }
    let mut map = Vec::with_capacity(count);
    let mut pos = table_end;
    for n in 0..count {
        // In range: n < count and the table was checked to fit above.
        let slot = U32_LEN + n * 2 * U32_LEN;
        let name_len = read_u32(bytes, slot).ok_or(CodecError::Truncated)?;
        let value_len = read_u32(bytes, slot + U32_LEN).ok_or(CodecError::Truncated)?;
        let name = take_entry(bytes, &mut pos, name_len)?;
        let value = take_entry(bytes, &mut pos, value_len)?;
        map.push((text(name), text(value)));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(map: &[(&str, &str)]) -> Vec<(String, String)> {
        map.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sample() -> Vec<(&'static str, &'static str)> {
        vec![
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            ("authorization", "Bearer abc.def.ghi"),
            ("x-empty", ""),
            ("", "empty-name"),
        ]
    }

    /// A small deterministic generator so the fuzz-style tests need no crate and
    /// fail reproducibly.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn serializes_exactly_like_the_sdk_layout() {
        let bytes = serialize_map(&[("ab", "c"), ("d", "")]);
        let expected: Vec<u8> = [
            &2u32.to_le_bytes()[..],
            &2u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &1u32.to_le_bytes(),
            &0u32.to_le_bytes(),
            b"ab\0c\0d\0\0",
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn empty_map_serializes_to_a_zero_count() {
        assert_eq!(serialize_map(&[]), vec![0, 0, 0, 0]);
    }

    #[test]
    fn round_trips_names_and_values_in_order() {
        let map = sample();
        assert_eq!(deserialize_map(&serialize_map(&map)), Ok(owned(&map)));
    }

    #[test]
    fn round_trips_repeated_names() {
        let map = [("set-cookie", "a=1"), ("set-cookie", "b=2")];
        assert_eq!(deserialize_map(&serialize_map(&map)), Ok(owned(&map)));
    }

    #[test]
    fn empty_buffer_is_an_empty_map() {
        assert_eq!(deserialize_map(&[]), Ok(Vec::new()));
    }

    #[test]
    fn zero_count_is_an_empty_map() {
        assert_eq!(deserialize_map(&[0, 0, 0, 0]), Ok(Vec::new()));
    }

    /// `hostcalls::utils::tests::{MAP, SERIALIZED_MAP}` in proxy-wasm 0.2.5.
    const SDK_MAP: &[(&str, &str)] = &[
        (":method", "GET"),
        (":path", "/bytes/1"),
        (":authority", "httpbin.org"),
        ("Powered-By", "proxy-wasm"),
    ];

    #[rustfmt::skip]
    const SDK_SERIALIZED_MAP: &[u8] = &[
        4, 0, 0, 0,
        7, 0, 0, 0, 3, 0, 0, 0,
        5, 0, 0, 0, 8, 0, 0, 0,
        10, 0, 0, 0, 11, 0, 0, 0,
        10, 0, 0, 0, 10, 0, 0, 0,
        58, 109, 101, 116, 104, 111, 100, 0,
        71, 69, 84, 0,
        58, 112, 97, 116, 104, 0,
        47, 98, 121, 116, 101, 115, 47, 49, 0,
        58, 97, 117, 116, 104, 111, 114, 105, 116, 121, 0,
        104, 116, 116, 112, 98, 105, 110, 46, 111, 114, 103, 0,
        80, 111, 119, 101, 114, 101, 100, 45, 66, 121, 0,
        112, 114, 111, 120, 121, 45, 119, 97, 115, 109, 0,
    ];

    #[test]
    fn serializes_the_sdk_test_vector() {
        assert_eq!(serialize_map(SDK_MAP), SDK_SERIALIZED_MAP);
    }

    #[test]
    fn decodes_the_sdk_test_vector() {
        assert_eq!(deserialize_map(SDK_SERIALIZED_MAP), Ok(owned(SDK_MAP)));
    }

    #[test]
    fn every_single_byte_value_round_trips_like_the_sdk() {
        // As the SDK's `test_deserialize_map_all_chars`, including a NUL inside a value,
        // but bytes 0x80.. are replaced instead of panicking.
        for i in 0..=0xffu8 {
            let src = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 99, 0, i, 0];
            let map = deserialize_map(&src).unwrap();
            let expected = if i < 0x80 { char::from(i) } else { '\u{FFFD}' };
            assert_eq!(
                map,
                vec![("c".to_string(), expected.to_string())],
                "byte {i:#x}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let mut bytes = serialize_map(&[("x-bin", "ab")]);
        // Overwrite the value "ab" with a lone continuation byte and a valid byte.
        let value_at = bytes.len() - 3;
        bytes[value_at] = 0x80;
        assert_eq!(
            deserialize_map(&bytes),
            Ok(vec![("x-bin".to_string(), "\u{FFFD}b".to_string())])
        );
    }

    #[test]
    fn trailing_bytes_after_the_last_entry_are_ignored() {
        let mut bytes = serialize_map(&[("a", "b")]);
        bytes.extend_from_slice(b"junk");
        assert_eq!(deserialize_map(&bytes), Ok(owned(&[("a", "b")])));
    }

    #[test]
    fn malformed_buffers_are_errors() {
        let valid = serialize_map(&[("a", "b")]);
        let mut bad_terminator = valid.clone();
        let last = bad_terminator.len() - 1;
        bad_terminator[last] = b'!';
        let mut long_name = valid.clone();
        long_name[4..8].copy_from_slice(&100u32.to_le_bytes());
        let mut max_name = valid.clone();
        max_name[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut short_name = valid.clone();
        short_name[4..8].copy_from_slice(&0u32.to_le_bytes());
        let cases: Vec<(&str, Vec<u8>, CodecError)> = vec![
            ("count cut short", vec![1, 0], CodecError::Truncated),
            (
                "count with no table",
                vec![1, 0, 0, 0],
                CodecError::Truncated,
            ),
            (
                "huge count in a tiny buffer",
                vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
                CodecError::Truncated,
            ),
            (
                "count larger than the entries",
                [&2u32.to_le_bytes()[..], &valid[4..]].concat(),
                CodecError::Truncated,
            ),
            (
                "name longer than the buffer",
                long_name,
                CodecError::Truncated,
            ),
            ("name length u32::MAX", max_name, CodecError::Truncated),
            (
                "name shorter than declared (desynchronised)",
                short_name,
                CodecError::MissingTerminator,
            ),
            (
                "terminator is not nul",
                bad_terminator,
                CodecError::MissingTerminator,
            ),
            (
                "last terminator missing",
                valid[..valid.len() - 1].to_vec(),
                CodecError::Truncated,
            ),
        ];
        for (name, bytes, expected) in cases {
            assert_eq!(deserialize_map(&bytes), Err(expected), "{name}");
        }
    }

    #[test]
    fn every_proper_prefix_of_a_valid_buffer_is_an_error() {
        let bytes = serialize_map(&sample());
        for cut in 1..bytes.len() {
            assert!(
                deserialize_map(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
    }

    #[test]
    fn random_truncations_and_corruptions_never_panic() {
        let bytes = serialize_map(&sample());
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut decoded = 0;
        for _ in 0..20_000 {
            let mut buf = bytes.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(buf.len());
                buf[at] = rng.next() as u8;
            }
            buf.truncate(rng.below(buf.len() + 1));
            if let Ok(map) = deserialize_map(&buf) {
                // Whatever decodes must have come from inside the buffer.
                let text: usize = map.iter().map(|(k, v)| k.len() + v.len()).sum();
                assert!(map.len() <= buf.len() / 8 + 1);
                assert!(text <= buf.len() * 3, "decoded more text than bytes");
                decoded += 1;
            }
        }
        // The generator must exercise both outcomes, or the test proves little.
        assert!(decoded > 0, "no corrupted buffer ever decoded");
    }

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = XorShift(42);
        for _ in 0..20_000 {
            let len = rng.below(64);
            let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Only the absence of a panic (and of a huge allocation) is under test here,
            // plus the invariant that an Ok map never claims more entries than fit.
            if let Ok(map) = deserialize_map(&buf) {
                assert!(map.len() * 8 + 4 <= buf.len() || map.is_empty());
            }
        }
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(CodecError::Truncated.code(), "header_map_truncated");
        assert_eq!(
            CodecError::MissingTerminator.code(),
            "header_map_missing_terminator"
        );
        assert_eq!(
            CodecError::Truncated.to_string(),
            "header map is shorter than its declared lengths"
        );
    }
}
