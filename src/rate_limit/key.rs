//! Rate-limit keys: which client a request counts against.
//!
//! A key is a list of parts (subject, client IP, API key, claim, route,
//! header) combined into one 64-bit fingerprint. Only the fingerprint is
//! ever stored: no subject, IP or API key appears in shared data or in a
//! slot name.
//!
//! When a part is missing from the request (no token, no such header, a
//! claim that is absent or not a scalar) the key is `None` and the policy
//! does not apply to that request. This is deliberate: a `subject` policy
//! cannot count anonymous requests; cover those with an `ip` policy.
//!
//! The fingerprint is FNV-1a 64 over length-prefixed parts, seeded with a
//! fixed key and finished with a 64-bit mixer so the low bits (the slot
//! index) are well spread. It is fast, not cryptographic: someone who knows
//! the seed could craft keys that land in the same slots (see `table.rs` for
//! why that only makes limits stricter for those keys).

// Reads untrusted bytes: no indexing that could panic (see clippy.toml for tests).
#![deny(clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv6Addr};

use serde::Deserialize;

/// What a request offers to build keys from. Plain values, no host calls.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The verified JWT `sub`, if any.
    pub subject: Option<&'a str>,
    /// The verified JWT claims, if any.
    pub claims: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// Roles (or scopes) of the caller.
    pub roles: &'a [String],
    /// Name of the matched route.
    pub route: &'a str,
    /// The connection's source address: `1.2.3.4:5678`, `[::1]:5678` or a bare IP.
    pub peer_ip: Option<&'a str>,
    /// Request headers (names in any case).
    pub headers: &'a [(String, String)],
}

impl<'a> RequestFacts<'a> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A claim as text: strings as they are, numbers and booleans in JSON
    /// form; null, arrays and objects give `None`.
    pub fn claim_text(&self, name: &str) -> Option<String> {
        scalar_text(self.claims?.get(name)?)
    }
}

/// A JSON scalar as text: strings as they are, numbers and booleans in JSON
/// form; null, arrays and objects give `None`.
pub fn scalar_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// How the client IP is found.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ClientIpSettings {
    /// Proxies in front of Envoy that append to `X-Forwarded-For` and are
    /// trusted. 0 (the default) ignores the header: the connection's source
    /// address is used. N > 0 takes the Nth address from the right.
    pub trusted_hops: u32,
    /// IPv6 clients are grouped by this prefix length (64: one /64 is one
    /// client, since a single host usually controls a whole /64). 128
    /// counts every address separately.
    pub ipv6_prefix: u8,
}

impl Default for ClientIpSettings {
    fn default() -> Self {
        Self {
            trusted_hops: 0,
            ipv6_prefix: 64,
        }
    }
}

/// Parses an address with or without a port (`1.2.3.4:80`, `[::1]:80`, `::1`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().ok()
}

/// The client IP of a request under `settings`, normalised: IPv4-mapped
/// IPv6 becomes IPv4, IPv6 is cut to `ipv6_prefix` bits.
///
/// With `trusted_hops = N > 0` the Nth address from the right of
/// `X-Forwarded-For` (all such headers, in order) is used. When the header
/// has fewer than N addresses or the chosen one is not an IP, the request
/// did not come through the trusted proxies as configured, so its header is
/// not believed and the connection's source address is used instead (fail
/// safe: all such requests share the proxy's bucket).
pub fn client_ip(facts: &RequestFacts, settings: &ClientIpSettings) -> Option<IpAddr> {
    let from_xff = if settings.trusted_hops > 0 {
        forwarded_ip(facts.headers, settings.trusted_hops)
    } else {
        None
    };
    let ip = from_xff.or_else(|| facts.peer_ip.and_then(parse_ip))?;
    Some(normalise(ip, settings.ipv6_prefix))
}

fn forwarded_ip(headers: &[(String, String)], hops: u32) -> Option<IpAddr> {
    let addrs: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let hops = usize::try_from(hops).ok()?;
    let idx = addrs.len().checked_sub(hops)?;
    addrs.get(idx).and_then(|a| parse_ip(a))
}

fn normalise(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u128::from(v6);
            let prefix = u32::from(prefix.min(128));
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// One part of a key, as configured: `"subject"`, `"ip"`, `"route"`,
/// `{"api_key": {"header": "x-api-key"}}`, `{"claim": "tenant"}`,
/// `{"header": "x-foo"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyPartSettings {
    /// The JWT subject.
    Subject,
    /// The client IP (see [`ClientIpSettings`]).
    Ip,
    /// The matched route's name.
    Route,
    /// An API key header; only its hash enters the fingerprint.
    ApiKey(ApiKeySettings),
    /// A JWT claim value, e.g. a tenant.
    Claim(String),
    /// A request header value.
    Header(String),
}

/// Where an API key is read.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    /// Header carrying the key.
    pub header: String,
}

/// A compiled key part (header names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// The JWT subject.
    Subject,
    /// The client IP.
    Ip,
    /// The route name.
    Route,
    /// The hash of an API key header.
    ApiKey(String),
    /// A claim.
    Claim(String),
    /// A header.
    Header(String),
}

impl KeyPart {
    fn tag(&self) -> u8 {
        match self {
            Self::Subject => 1,
            Self::Ip => 2,
            Self::Route => 3,
            Self::ApiKey(_) => 4,
            Self::Claim(_) => 5,
            Self::Header(_) => 6,
        }
    }
}

/// The fingerprint of a request's key, or `None` when a part is missing
/// (the policy then does not apply; see the module docs).
pub fn fingerprint(parts: &[KeyPart], facts: &RequestFacts, ip: &ClientIpSettings) -> Option<u64> {
    let mut h = Fnv::new();
    for part in parts {
        h.byte(part.tag());
        match part {
            KeyPart::Subject => h.field(non_empty(facts.subject?)?.as_bytes()),
            KeyPart::Ip => match client_ip(facts, ip)? {
                IpAddr::V4(v4) => h.field(&v4.octets()),
                IpAddr::V6(v6) => h.field(&v6.octets()),
            },
            KeyPart::Route => h.field(facts.route.as_bytes()),
            KeyPart::ApiKey(name) => {
                // Hashed on its own first, so the raw key is never held in a
                // buffer longer than this call.
                let mut k = Fnv::new();
                k.field(non_empty(facts.header(name)?.trim())?.as_bytes());
                h.field(&k.finish().to_le_bytes());
            }
            KeyPart::Claim(name) => h.field(non_empty(&facts.claim_text(name)?)?.as_bytes()),
            KeyPart::Header(name) => h.field(non_empty(facts.header(name)?.trim())?.as_bytes()),
        }
    }
    Some(h.finish())
}

fn non_empty(s: &str) -> Option<&str> {
    if s.is_empty() {
        None
    } else {
        Some(s)
    }
}

/// Fixed seed mixed into every fingerprint (a per-deployment secret can
/// replace it later).
const SEED: u64 = 0x7467_5f72_6c5f_7631; // "tg_rl_v1"

/// Keyed FNV-1a 64 with a final mixer.
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        let mut h = Self(0xcbf2_9ce4_8422_2325);
        for b in SEED.to_le_bytes() {
            h.byte(b);
        }
        h
    }

    pub(crate) fn byte(&mut self, b: u8) {
        self.0 ^= u64::from(b);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// A length-prefixed field, so ("ab","c") and ("a","bc") differ.
    pub(crate) fn field(&mut self, bytes: &[u8]) {
        for b in (bytes.len() as u64).to_le_bytes() {
            self.byte(b);
        }
        for &b in bytes {
            self.byte(b);
        }
    }

    /// The hash, finished with the splitmix64 mixer.
    pub(crate) fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(peer: Option<&'a str>, headers: &'a [(String, String)]) -> RequestFacts<'a> {
        RequestFacts {
            subject: None,
            claims: None,
            roles: &[],
            route: "chat",
            peer_ip: peer,
            headers,
        }
    }

    fn hdr(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hops(n: u32) -> ClientIpSettings {
        ClientIpSettings {
            trusted_hops: n,
            ipv6_prefix: 128,
        }
    }

    #[test]
    fn peer_address_port_is_stripped() {
        let cases = [
            ("1.2.3.4:5678", "1.2.3.4"),
            ("[::1]:5678", "::1"),
            ("10.0.0.1", "10.0.0.1"),
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
        ];
        for (peer, want) in cases {
            assert_eq!(
                client_ip(&facts(Some(peer), &[]), &hops(0)),
                Some(ip(want)),
                "{peer}"
            );
        }
    }

    #[test]
    fn forwarded_for_is_ignored_by_default() {
        let h = hdr(&[("X-Forwarded-For", "9.9.9.9")]);
        assert_eq!(
            client_ip(&facts(Some("1.1.1.1:1"), &h), &hops(0)),
            Some(ip("1.1.1.1"))
        );
    }

    #[test]
    fn trusted_hops_pick_the_nth_address_from_the_right() {
        let h = hdr(&[
            ("x-forwarded-for", "6.6.6.6, 1.1.1.1"),
            ("X-Forwarded-For", "2.2.2.2,3.3.3.3"),
        ]);
        let f = facts(Some("10.0.0.9:1"), &h);
        assert_eq!(client_ip(&f, &hops(1)), Some(ip("3.3.3.3")));
        assert_eq!(client_ip(&f, &hops(2)), Some(ip("2.2.2.2")));
        assert_eq!(client_ip(&f, &hops(4)), Some(ip("6.6.6.6")));
    }

    #[test]
    fn fewer_forwarded_addresses_than_hops_falls_back_to_the_peer() {
        let h = hdr(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            client_ip(&facts(Some("10.0.0.9:1"), &h), &hops(2)),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            client_ip(&facts(Some("10.0.0.9:1"), &[]), &hops(1)),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn garbage_in_the_chosen_forwarded_entry_falls_back_to_the_peer() {
        let h = hdr(&[("x-forwarded-for", "1.1.1.1, not-an-ip")]);
        assert_eq!(
            client_ip(&facts(Some("10.0.0.9:1"), &h), &hops(1)),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn ipv6_is_grouped_by_prefix_and_mapped_ipv4_unwrapped() {
        let s = ClientIpSettings::default();
        let a = client_ip(&facts(Some("[2001:db8:1:2:aaaa::1]:1"), &[]), &s);
        let b = client_ip(&facts(Some("[2001:db8:1:2:bbbb::2]:1"), &[]), &s);
        assert_eq!(a, Some(ip("2001:db8:1:2::")));
        assert_eq!(a, b);
        let mapped = client_ip(&facts(Some("[::ffff:1.2.3.4]:1"), &[]), &s);
        assert_eq!(mapped, Some(ip("1.2.3.4")));
    }

    #[test]
    fn missing_part_means_no_key() {
        let f = facts(None, &[]);
        assert_eq!(fingerprint(&[KeyPart::Subject], &f, &hops(0)), None);
        assert_eq!(fingerprint(&[KeyPart::Ip], &f, &hops(0)), None);
        assert_eq!(
            fingerprint(&[KeyPart::Header("x-a".into())], &f, &hops(0)),
            None
        );
        assert!(fingerprint(&[KeyPart::Route], &f, &hops(0)).is_some());
    }

    #[test]
    fn parts_are_length_prefixed_and_tagged() {
        let h1 = hdr(&[("x-a", "ab"), ("x-b", "c")]);
        let h2 = hdr(&[("x-a", "a"), ("x-b", "bc")]);
        let parts = [KeyPart::Header("x-a".into()), KeyPart::Header("x-b".into())];
        let f1 = fingerprint(&parts, &facts(None, &h1), &hops(0));
        let f2 = fingerprint(&parts, &facts(None, &h2), &hops(0));
        assert_ne!(f1, f2);
        let h = hdr(&[("x-a", "v")]);
        let as_header = fingerprint(&[KeyPart::Header("x-a".into())], &facts(None, &h), &hops(0));
        let as_api_key = fingerprint(&[KeyPart::ApiKey("x-a".into())], &facts(None, &h), &hops(0));
        assert_ne!(as_header, as_api_key);
    }

    #[test]
    fn claims_are_read_as_scalars_only() {
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"tenant":"acme","n":7,"ok":true,"list":["a"],"nil":null}"#)
                .unwrap();
        let f = RequestFacts {
            claims: Some(&claims),
            ..facts(None, &[])
        };
        assert_eq!(f.claim_text("tenant").as_deref(), Some("acme"));
        assert_eq!(f.claim_text("n").as_deref(), Some("7"));
        assert_eq!(f.claim_text("ok").as_deref(), Some("true"));
        assert_eq!(f.claim_text("list"), None);
        assert_eq!(f.claim_text("nil"), None);
        assert_eq!(f.claim_text("absent"), None);
    }

    #[test]
    fn key_part_settings_parse_from_strings_and_objects() {
        let parts: Vec<KeyPartSettings> = serde_json::from_str(
            r#"["subject","ip","route",{"api_key":{"header":"x-api-key"}},{"claim":"tenant"},{"header":"x-foo"}]"#,
        )
        .unwrap();
        assert_eq!(parts.len(), 6);
        assert_eq!(
            parts[3],
            KeyPartSettings::ApiKey(ApiKeySettings {
                header: "x-api-key".into()
            })
        );
        assert!(serde_json::from_str::<KeyPartSettings>(r#""cookie""#).is_err());
    }
}
