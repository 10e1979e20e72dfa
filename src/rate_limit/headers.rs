//! `RateLimit-Policy` and `RateLimit` response headers
//! (draft-ietf-httpapi-ratelimit-headers-10, Structured Field lists).
//!
//! ```text
//! RateLimit-Policy: "burst";q=10;w=1, "daily";q=100000;w=86400;qu="tokens"
//! RateLimit: "burst";r=3;t=1, "daily";r=99000;t=864
//! ```
//!
//! For a token bucket: `q` is the capacity, `w` the seconds an empty bucket
//! takes to fill, `r` the whole tokens left, `t` the seconds until the bucket
//! is full again (on a refusal: until the request would fit, the same value
//! as `Retry-After`). Request policies use the draft's default unit
//! (requests) and omit `qu`; LLM-token policies say `qu="tokens"`, a unit
//! name the draft's registry does not define yet, so a client reading only
//! registered units knows to skip it. Policy names are restricted at
//! configure time to characters that need no escaping in an sf-string.

/// Name of the static policy header (lowercase, as HTTP/2 sends it).
pub const POLICY_HEADER: &str = "ratelimit-policy";
/// Name of the dynamic state header.
pub const STATE_HEADER: &str = "ratelimit";

/// What one policy reports for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaView {
    /// Policy name.
    pub name: String,
    /// Capacity (`q`).
    pub quota: u64,
    /// Window in seconds (`w`).
    pub window_s: u64,
    /// Tokens left (`r`).
    pub remaining: u64,
    /// Seconds until reset (`t`).
    pub reset_s: u64,
    /// True for LLM-token budgets (`qu="tokens"`).
    pub tokens: bool,
    /// For money budgets, the currency (`qu="usd-micros"`: micro-units).
    pub currency: Option<String>,
}

/// The two headers for `views`, or nothing when `views` is empty.
pub fn render(views: &[QuotaView]) -> Vec<(String, String)> {
    if views.is_empty() {
        return Vec::new();
    }
    let policy: Vec<String> = views
        .iter()
        .map(|v| {
            let unit = match (&v.currency, v.tokens) {
                (Some(c), _) => format!(";qu=\"{}-micros\"", c.to_ascii_lowercase()),
                (None, true) => ";qu=\"tokens\"".to_string(),
                (None, false) => String::new(),
            };
            format!("\"{}\";q={};w={}{unit}", v.name, v.quota, v.window_s)
        })
        .collect();
    let state: Vec<String> = views
        .iter()
        .map(|v| format!("\"{}\";r={};t={}", v.name, v.remaining, v.reset_s))
        .collect();
    vec![
        (POLICY_HEADER.to_string(), policy.join(", ")),
        (STATE_HEADER.to_string(), state.join(", ")),
    ]
}

/// Whole seconds for a millisecond delay, rounded up.
pub fn ceil_s(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, tokens: bool) -> QuotaView {
        QuotaView {
            name: name.into(),
            quota: 10,
            window_s: 1,
            remaining: 3,
            reset_s: 1,
            tokens,
            currency: None,
        }
    }

    #[test]
    fn one_policy_renders_both_headers() {
        assert_eq!(
            render(&[view("burst", false)]),
            vec![
                (
                    "ratelimit-policy".to_string(),
                    "\"burst\";q=10;w=1".to_string()
                ),
                ("ratelimit".to_string(), "\"burst\";r=3;t=1".to_string()),
            ]
        );
    }

    #[test]
    fn several_policies_form_one_list_and_token_budgets_name_their_unit() {
        let h = render(&[view("burst", false), view("daily", true)]);
        assert_eq!(
            h[0].1,
            "\"burst\";q=10;w=1, \"daily\";q=10;w=1;qu=\"tokens\""
        );
        assert_eq!(h[1].1, "\"burst\";r=3;t=1, \"daily\";r=3;t=1");
    }

    #[test]
    fn money_budgets_name_their_currency_in_micro_units() {
        let mut v = view("spend", true);
        v.currency = Some("USD".into());
        assert_eq!(render(&[v])[0].1, "\"spend\";q=10;w=1;qu=\"usd-micros\"");
    }

    #[test]
    fn no_policy_no_headers() {
        assert!(render(&[]).is_empty());
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(
            (ceil_s(0), ceil_s(1), ceil_s(1000), ceil_s(1001)),
            (0, 1, 1, 2)
        );
    }
}
