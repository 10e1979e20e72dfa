//! The protobuf wire format of Envoy's rate-limit service API v3, by hand.
//!
//! Only the fields Tollgate sends or reads, so the filter needs no protobuf
//! crate. Field numbers are those of `envoy/service/ratelimit/v3/rls.proto`
//! and `envoy/extensions/common/ratelimit/v3/ratelimit.proto`:
//!
//! ```text
//! RateLimitRequest     { string domain = 1; repeated RateLimitDescriptor descriptors = 2;
//!                        uint32 hits_addend = 3; }
//! RateLimitDescriptor  { repeated Entry entries = 1; }   Entry { string key = 1; string value = 2; }
//! RateLimitResponse    { Code overall_code = 1; repeated DescriptorStatus statuses = 2; ... }
//! DescriptorStatus     { Code code = 1; RateLimit current_limit = 2; uint32 limit_remaining = 3;
//!                        google.protobuf.Duration duration_until_reset = 4; }
//! RateLimit            { string name = 3; uint32 requests_per_unit = 1; Unit unit = 2; }
//! Duration             { int64 seconds = 1; int32 nanos = 2; }
//! Code: UNKNOWN 0, OK 1, OVER_LIMIT 2
//! Unit: UNKNOWN 0, SECOND 1, MINUTE 2, HOUR 3, DAY 4, MONTH 5, YEAR 6, WEEK 7
//! ```
//!
//! Both directions are here (the filter encodes requests and decodes
//! responses; the test service in `tools/` does the reverse), so each
//! encoder is tested against its decoder and against bytes written from
//! the spec. Unknown fields are skipped, as protobuf requires.

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

/// gRPC service name of the rate-limit service.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
/// gRPC method name.
pub const METHOD: &str = "ShouldRateLimit";

/// A descriptor: hierarchical key/value entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// `(key, value)` entries, in order.
    pub entries: Vec<(String, String)>,
}

/// `RateLimitRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitRequest {
    /// Domain.
    pub domain: String,
    /// Descriptors, each limited on its own.
    pub descriptors: Vec<Descriptor>,
    /// Hits each descriptor is charged; 0 (absent) means 1.
    pub hits_addend: u32,
}

/// Response and descriptor code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Code {
    /// Unknown (0), also any value this build does not know.
    #[default]
    Unknown,
    /// Under limit (1).
    Ok,
    /// Over limit (2).
    OverLimit,
}

impl Code {
    fn from_wire(v: u64) -> Self {
        match v {
            1 => Self::Ok,
            2 => Self::OverLimit,
            _ => Self::Unknown,
        }
    }

    fn to_wire(self) -> u64 {
        match self {
            Self::Unknown => 0,
            Self::Ok => 1,
            Self::OverLimit => 2,
        }
    }
}

/// The unit of a limit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Unknown (0) or a value this build does not know.
    #[default]
    Unknown,
    /// 1 s.
    Second,
    /// 60 s.
    Minute,
    /// 3600 s.
    Hour,
    /// 86 400 s.
    Day,
    /// 7 days.
    Week,
    /// 30 days (envoyproxy/ratelimit's month).
    Month,
    /// 365 days.
    Year,
}

impl Unit {
    /// Parses the config spelling (`second`, `MINUTE`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "second" => Self::Second,
            "minute" => Self::Minute,
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "year" => Self::Year,
            _ => return None,
        })
    }

    /// Window length in seconds (0 for `Unknown`), as envoyproxy/ratelimit
    /// divides time: fixed windows aligned to the Unix epoch.
    pub fn seconds(self) -> u64 {
        match self {
            Self::Unknown => 0,
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
            Self::Week => 7 * 86_400,
            Self::Month => 30 * 86_400,
            Self::Year => 365 * 86_400,
        }
    }

    fn from_wire(v: u64) -> Self {
        match v {
            1 => Self::Second,
            2 => Self::Minute,
            3 => Self::Hour,
            4 => Self::Day,
            5 => Self::Month,
            6 => Self::Year,
            7 => Self::Week,
            _ => Self::Unknown,
        }
    }

    fn to_wire(self) -> u64 {
        match self {
            Self::Unknown => 0,
            Self::Second => 1,
            Self::Minute => 2,
            Self::Hour => 3,
            Self::Day => 4,
            Self::Month => 5,
            Self::Year => 6,
            Self::Week => 7,
        }
    }
}

/// `RateLimitResponse.RateLimit`: the limit a descriptor matched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limit {
    /// Optional name.
    pub name: String,
    /// Hits allowed per window.
    pub requests_per_unit: u32,
    /// Window.
    pub unit: Unit,
}

/// `RateLimitResponse.DescriptorStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescriptorStatus {
    /// This descriptor's code.
    pub code: Code,
    /// The limit, when the server has one for this descriptor.
    pub current_limit: Option<Limit>,
    /// Hits left in the window.
    pub limit_remaining: u32,
    /// Time until the window resets, in milliseconds (from the Duration).
    pub until_reset_ms: Option<u64>,
}

/// `RateLimitResponse` (the fields Tollgate reads).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitResponse {
    /// Overall code.
    pub overall_code: Code,
    /// One status per request descriptor, in order.
    pub statuses: Vec<DescriptorStatus>,
}

/// A message that is not valid protobuf for the expected type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed rate-limit message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

const VARINT: u64 = 0;
const I64: u64 = 1;
const LEN: u64 = 2;
const I32: u64 = 5;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    put_varint(out, (field << 3) | wire);
}

/// A varint field; proto3 omits zero (the default).
fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_tag(out, field, VARINT);
        put_varint(out, v);
    }
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_tag(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A string field; proto3 omits the empty string.
fn put_str(out: &mut Vec<u8>, field: u64, s: &str) {
    if !s.is_empty() {
        put_bytes(out, field, s.as_bytes());
    }
}

impl RateLimitRequest {
    /// The message bytes (no gRPC frame: the host adds it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_str(&mut out, 1, &self.domain);
        let mut d = Vec::new();
        let mut e = Vec::new();
        for desc in &self.descriptors {
            d.clear();
            for (k, v) in &desc.entries {
                e.clear();
                // Keys and values are always written, even empty: an entry
                // is a message, and empty strings are valid there.
                put_str(&mut e, 1, k);
                put_str(&mut e, 2, v);
                put_bytes(&mut d, 1, &e);
            }
            put_bytes(&mut out, 2, &d);
        }
        put_uint(&mut out, 3, u64::from(self.hits_addend));
        out
    }

    /// Parses a request (the service side).
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut req = Self::default();
        let mut r = Reader::new(buf);
        while let Some((field, wire)) = r.tag()? {
            match (field, wire) {
                (1, LEN) => req.domain = r.string()?,
                (2, LEN) => req.descriptors.push(decode_descriptor(r.bytes()?)?),
                (3, VARINT) => {
                    req.hits_addend = u32::try_from(r.varint()?)
                        .map_err(|_| DecodeError("hits_addend out of range"))?
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(req)
    }
}

fn decode_descriptor(buf: &[u8]) -> Result<Descriptor, DecodeError> {
    let mut d = Descriptor::default();
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.tag()? {
        if (field, wire) == (1, LEN) {
            let mut er = Reader::new(r.bytes()?);
            let (mut k, mut v) = (String::new(), String::new());
            while let Some((f, w)) = er.tag()? {
                match (f, w) {
                    (1, LEN) => k = er.string()?,
                    (2, LEN) => v = er.string()?,
                    _ => er.skip(w)?,
                }
            }
            d.entries.push((k, v));
        } else {
            r.skip(wire)?;
        }
    }
    Ok(d)
}

impl RateLimitResponse {
    /// The message bytes (the service side).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        put_uint(&mut out, 1, self.overall_code.to_wire());
        for s in &self.statuses {
            let mut m = Vec::new();
            put_uint(&mut m, 1, s.code.to_wire());
            if let Some(l) = &s.current_limit {
                let mut lm = Vec::new();
                put_uint(&mut lm, 1, u64::from(l.requests_per_unit));
                put_uint(&mut lm, 2, l.unit.to_wire());
                put_str(&mut lm, 3, &l.name);
                put_bytes(&mut m, 2, &lm);
            }
            put_uint(&mut m, 3, u64::from(s.limit_remaining));
            if let Some(ms) = s.until_reset_ms {
                let mut dm = Vec::new();
                put_uint(&mut dm, 1, ms / 1000);
                put_uint(&mut dm, 2, (ms % 1000) * 1_000_000);
                put_bytes(&mut m, 4, &dm);
            }
            put_bytes(&mut out, 2, &m);
        }
        out
    }

    /// Parses a response (the filter side).
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut resp = Self::default();
        let mut r = Reader::new(buf);
        while let Some((field, wire)) = r.tag()? {
            match (field, wire) {
                (1, VARINT) => resp.overall_code = Code::from_wire(r.varint()?),
                (2, LEN) => resp.statuses.push(decode_status(r.bytes()?)?),
                _ => r.skip(wire)?,
            }
        }
        Ok(resp)
    }
}

fn decode_status(buf: &[u8]) -> Result<DescriptorStatus, DecodeError> {
    let mut s = DescriptorStatus::default();
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.tag()? {
        match (field, wire) {
            (1, VARINT) => s.code = Code::from_wire(r.varint()?),
            (2, LEN) => {
                let mut l = Limit::default();
                let mut lr = Reader::new(r.bytes()?);
                while let Some((f, w)) = lr.tag()? {
                    match (f, w) {
                        (1, VARINT) => l.requests_per_unit = saturate_u32(lr.varint()?),
                        (2, VARINT) => l.unit = Unit::from_wire(lr.varint()?),
                        (3, LEN) => l.name = lr.string()?,
                        _ => lr.skip(w)?,
                    }
                }
                s.current_limit = Some(l);
            }
            (3, VARINT) => s.limit_remaining = saturate_u32(r.varint()?),
            (4, LEN) => {
                let (mut secs, mut nanos) = (0u64, 0u64);
                let mut dr = Reader::new(r.bytes()?);
                while let Some((f, w)) = dr.tag()? {
                    match (f, w) {
                        // int64 / int32 on the wire; a negative duration is
                        // a varint with the top bit set: treat it as zero.
                        (1, VARINT) => secs = non_negative(dr.varint()?),
                        (2, VARINT) => nanos = non_negative(dr.varint()?).min(999_999_999),
                        _ => dr.skip(w)?,
                    }
                }
                s.until_reset_ms = Some(
                    secs.saturating_mul(1000)
                        .saturating_add(nanos.div_ceil(1_000_000)),
                );
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(s)
}

fn saturate_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn non_negative(v: u64) -> u64 {
    if v >> 63 == 1 {
        0
    } else {
        v
    }
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(DecodeError("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    /// The next `(field, wire type)`, or `None` at the end.
    fn tag(&mut self) -> Result<Option<(u64, u64)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let t = self.varint()?;
        let field = t >> 3;
        if field == 0 {
            return Err(DecodeError("field number 0"));
        }
        Ok(Some((field, t & 7)))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError("length too large"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError("truncated field"))?;
        let b = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError("truncated field"))?;
        self.pos = end;
        Ok(b)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError("string is not utf-8"))
    }

    fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError("truncated field"))?;
        self.pos = end;
        Ok(())
    }

    fn skip(&mut self, wire: u64) -> Result<(), DecodeError> {
        match wire {
            VARINT => self.varint().map(drop),
            I64 => self.advance(8),
            LEN => self.bytes().map(drop),
            I32 => self.advance(4),
            _ => Err(DecodeError("unsupported wire type")),
        }
    }
}

/// Wraps a message in a gRPC length-prefixed frame (uncompressed).
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    out.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(message);
    out
}

/// The message inside one gRPC frame, if `buf` holds exactly one
/// uncompressed frame.
pub fn grpc_unframe(buf: &[u8]) -> Result<&[u8], DecodeError> {
    let (&flag, rest) = buf.split_first().ok_or(DecodeError("empty grpc frame"))?;
    if flag != 0 {
        return Err(DecodeError("compressed grpc frames are not supported"));
    }
    let len_bytes: [u8; 4] = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError("truncated grpc frame"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let msg = rest.get(4..).ok_or(DecodeError("truncated grpc frame"))?;
    if msg.len() != len {
        return Err(DecodeError("grpc frame length mismatch"));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> RateLimitRequest {
        RateLimitRequest {
            domain: "tg".into(),
            descriptors: vec![Descriptor {
                entries: vec![
                    ("policy".into(), "burst".into()),
                    ("subject".into(), "al".into()),
                ],
            }],
            hits_addend: 300,
        }
    }

    #[test]
    fn request_encodes_to_the_bytes_the_spec_gives() {
        // Written by hand from rls.proto: field 1 (domain) "tg"; field 2 a
        // descriptor holding two entries (field 1, each key=1 value=2);
        // field 3 varint 300 = 0xac 0x02.
        let want: Vec<u8> = [
            &[0x0a, 2, b't', b'g'][..],
            &[0x12, 32],
            &[0x0a, 15, 0x0a, 6],
            b"policy",
            &[0x12, 5],
            b"burst",
            &[0x0a, 13, 0x0a, 7],
            b"subject",
            &[0x12, 2],
            b"al",
            &[0x18, 0xac, 0x02],
        ]
        .concat();
        assert_eq!(req().encode(), want);
    }

    #[test]
    fn request_round_trips() {
        let r = req();
        assert_eq!(RateLimitRequest::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn hits_addend_of_one_or_zero_and_empty_values_round_trip() {
        let mut r = req();
        r.hits_addend = 0;
        r.descriptors[0].entries[1].1 = String::new();
        let enc = r.encode();
        assert!(!enc.ends_with(&[0x18, 0]), "proto3 omits a zero varint");
        assert_eq!(RateLimitRequest::decode(&enc).unwrap(), r);
    }

    #[test]
    fn response_decodes_from_spec_bytes() {
        // overall_code OVER_LIMIT; one status: code OVER_LIMIT, current_limit
        // {requests_per_unit 10, unit MINUTE, name "n"}, limit_remaining 0
        // (omitted), duration_until_reset {seconds 42, nanos 500_000_000}.
        let bytes: Vec<u8> = [
            &[0x08, 2][..],
            &[0x12, 21],
            &[0x08, 2],
            &[0x12, 7, 0x08, 10, 0x10, 2, 0x1a, 1, b'n'],
            &[0x22, 8, 0x08, 42, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01],
        ]
        .concat();
        let r = RateLimitResponse::decode(&bytes).unwrap();
        assert_eq!(r.overall_code, Code::OverLimit);
        assert_eq!(
            r.statuses,
            vec![DescriptorStatus {
                code: Code::OverLimit,
                current_limit: Some(Limit {
                    name: "n".into(),
                    requests_per_unit: 10,
                    unit: Unit::Minute
                }),
                limit_remaining: 0,
                until_reset_ms: Some(42_500),
            }]
        );
    }

    #[test]
    fn response_round_trips() {
        let r = RateLimitResponse {
            overall_code: Code::Ok,
            statuses: vec![
                DescriptorStatus {
                    code: Code::Ok,
                    current_limit: Some(Limit {
                        name: String::new(),
                        requests_per_unit: 100_000,
                        unit: Unit::Week,
                    }),
                    limit_remaining: 99_000,
                    until_reset_ms: Some(3_000),
                },
                DescriptorStatus {
                    code: Code::Ok,
                    ..DescriptorStatus::default()
                },
            ],
        };
        assert_eq!(RateLimitResponse::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // field 3 (response_headers_to_add, LEN), field 6 fixed64, field 7 fixed32, then code.
        let bytes: Vec<u8> = [
            &[0x1a, 3, 1, 2, 3][..],
            &[0x31, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0x3d, 0, 0, 0, 0],
            &[0x08, 1],
        ]
        .concat();
        assert_eq!(
            RateLimitResponse::decode(&bytes).unwrap().overall_code,
            Code::Ok
        );
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        for bad in [
            &[0x12, 5, 1][..], // truncated length-delimited
            &[0x08],           // truncated varint
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x00, 1],                            // field 0
            &[0x0b],                               // group start (wire type 3)
            &[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f], // huge length
        ] {
            assert!(RateLimitResponse::decode(bad).is_err(), "{bad:?}");
            assert!(RateLimitRequest::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negative_durations_read_as_zero() {
        // seconds = -1 as a 10-byte varint.
        let bytes: Vec<u8> = [
            &[0x12, 15, 0x22, 13, 0x08][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0x10, 0],
        ]
        .concat();
        let r = RateLimitResponse::decode(&bytes).unwrap();
        assert_eq!(r.statuses[0].until_reset_ms, Some(0));
    }

    #[test]
    fn grpc_frames_round_trip_and_reject_bad_lengths() {
        let f = grpc_frame(b"abc");
        assert_eq!(f, [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(grpc_unframe(&f).unwrap(), b"abc");
        assert!(grpc_unframe(&f[..6]).is_err());
        assert!(grpc_unframe(&[1, 0, 0, 0, 0]).is_err());
        assert!(grpc_unframe(&[]).is_err());
    }

    #[test]
    fn units_have_envoy_ratelimit_windows() {
        assert_eq!(Unit::parse("DAY").map(Unit::seconds), Some(86_400));
        assert_eq!(Unit::parse("week").map(Unit::seconds), Some(604_800));
        assert_eq!(Unit::parse("month").map(Unit::seconds), Some(2_592_000));
        assert_eq!(Unit::parse("fortnight"), None);
        for u in [
            Unit::Second,
            Unit::Minute,
            Unit::Hour,
            Unit::Day,
            Unit::Week,
            Unit::Month,
            Unit::Year,
        ] {
            assert_eq!(Unit::from_wire(u.to_wire()), u);
        }
    }
}
