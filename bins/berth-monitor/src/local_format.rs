//! Docker's `local` log driver format (moby daemon/logger/local), written by hand: each record
//! is the protobuf message
//!
//! ```text
//! message LogEntry { string source = 1; int64 time_nano = 2; bytes line = 3; bool partial = 4; }
//! ```
//!
//! framed by its length as a big-endian u32 before AND after (so the file can be read backwards
//! for `logs --tail`). Four fields of two wire types are a dozen lines; a protobuf crate and a
//! build step would be more than the encoder.

/// Appends `v` as a protobuf varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field (wire type 2); proto3 leaves empty ones out.
fn bytes_field(out: &mut Vec<u8>, field: u8, b: &[u8]) {
    if !b.is_empty() {
        out.push(field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

/// The `LogEntry` message alone.
pub fn entry(source: &str, time_nano: i64, line: &[u8], partial: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(line.len() + source.len() + 24);
    bytes_field(&mut m, 1, source.as_bytes());
    if time_nano != 0 {
        m.push(2 << 3);
        // int64 is encoded as its two's complement u64.
        varint(&mut m, time_nano as u64);
    }
    bytes_field(&mut m, 3, line);
    if partial {
        m.push(4 << 3);
        m.push(1);
    }
    m
}

/// One framed record as it goes into the file.
pub fn record(source: &str, time_nano: i64, line: &[u8], partial: bool) -> Vec<u8> {
    let m = entry(source, time_nano, line, partial);
    let len = (m.len() as u32).to_be_bytes();
    let mut r = Vec::with_capacity(m.len() + 8);
    r.extend_from_slice(&len);
    r.extend_from_slice(&m);
    r.extend_from_slice(&len);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_protoc() {
        // source: "stdout" time_nano: 300 line: "hi" partial: true, worked out from the
        // protobuf encoding rules: tag = field << 3 | wire type, 300 = varint ac 02.
        let want: &[u8] = &[
            0x0a, 6, b's', b't', b'd', b'o', b'u', b't', 0x10, 0xac, 0x02, 0x1a, 2, b'h', b'i',
            0x20, 1,
        ];
        assert_eq!(entry("stdout", 300, b"hi", true), want);
        let r = record("stdout", 300, b"hi", true);
        assert_eq!(&r[..4], &(want.len() as u32).to_be_bytes());
        assert_eq!(&r[4..4 + want.len()], want);
        assert_eq!(&r[4 + want.len()..], &(want.len() as u32).to_be_bytes());
        // Defaults are left out, as proto3 does.
        assert_eq!(entry("", 0, b"", false), Vec::<u8>::new());
    }
}
