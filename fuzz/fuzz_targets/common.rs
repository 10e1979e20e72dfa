//! The bodies of every fuzz target, as plain functions over `&[u8]`.
//!
//! Shared by the libFuzzer binaries in this directory (`cargo fuzz run <t>`)
//! and by the native replay test `tests/fuzz_replay.rs`, which runs every
//! file of `fuzz/corpus/<t>/` through the same function on any machine. A
//! target fails by panicking: every `assert!` here is a property that must
//! hold for any input, on top of "never panics".
//!
//! Key material below is test-only, generated for this file with openssl;
//! it protects nothing.
#![allow(dead_code)] // each fuzz binary uses one target
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use tollgate::auth::{Auth, AuthState, Verdict};
use tollgate::config::Config;
use tollgate::llm_api::shapes::{self, Api};
use tollgate::pipeline::response::{self as resp, BodyStep};
use tollgate::pipeline::StreamState;
use tollgate::rate_limit::bucket::{Bucket, Rate};
use tollgate::rate_limit::{Estimate, MemoryStore, Outcome, RequestFacts, Reservation};
use tollgate::redaction::{Counts, Redactor, StreamKind};
use tollgate::screening::normalize;
use tollgate::screening::ScreenOutcome;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name: the fuzz binary of that name and the corpus
/// directory `fuzz/corpus/<name>/` use it.
pub const TARGETS: &[(&str, Target)] = &[
    ("jwt", jwt),
    ("jwt_structured", jwt_structured),
    ("jwks", jwks),
    ("config", config),
    ("screening", screening),
    ("normalize", normalize_text),
    ("stream_redactor", stream_redactor),
    ("sse_usage", sse_usage),
    ("bucket", bucket),
];

/// The clock every target verifies against: 2027-01-15T08:00:00Z.
pub const NOW_S: u64 = 1_800_000_000;
/// `NOW_S` in milliseconds.
pub const NOW_MS: u64 = NOW_S * 1000;

/// HS256 secret of provider `hs` (issuer `https://hs.test`, kid `hs`).
pub const HS_SECRET: &[u8] = b"fuzz-only-hs256-secret-0123456789abcdef";

/// Test-only P-256 key (PKCS#8) of provider `pk`, kid `es`.
pub const ES256_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDlpIhW7OUvPGhFnK
nUSSshvgcYYocQaoyPdAOyfvTBChRANCAAS+3jLIfTU71Q/jCcXEDVTcKJjnkcKM
YS4cgan3whTVi1RsZ3gjzAM0ux/+QycxwCQhbXhXyIv8uTT4KXhoxt0G
-----END PRIVATE KEY-----";
/// Its public half.
pub const ES256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvt4yyH01O9UP4wnFxA1U3CiY55HC
jGEuHIGp98IU1YtUbGd4I8wDNLsf/kMnMcAkIW14V8iL/Lk0+Cl4aMbdBg==
-----END PUBLIC KEY-----";
/// Test-only Ed25519 key of provider `pk`, kid `ed`.
pub const ED25519_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAFVz6qPwh/VHmiIaAOFxkixVzni8sj1nAAZ7/BuRI7s
-----END PRIVATE KEY-----";
/// Its public half.
pub const ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAm7s+IebSVKAYpy/g74wNwsNk7EueYQRJ0gc2Cb4TDu4=
-----END PUBLIC KEY-----";

/// Issuers of the three providers.
pub const HS_ISSUER: &str = "https://hs.test";
pub const PK_ISSUER: &str = "https://pk.test";
pub const REMOTE_ISSUER: &str = "https://remote.test";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_json(pem: &str) -> String {
    serde_json::to_string(pem).unwrap()
}

/// Three providers: HS256 inline (`hs`), ES256 + EdDSA PEMs (`pk`, with a
/// maximum lifetime and a required claim), and a remote JWKS (`remote`).
pub fn auth_config_json() -> String {
    let secret = base64::engine::general_purpose::STANDARD.encode(HS_SECRET);
    format!(
        r#"{{"auth": {{
            "providers": [
                {{"name": "hs", "issuer": "{HS_ISSUER}", "audiences": ["api"],
                  "hmac": [{{"kid": "hs", "alg": "HS256", "secret_base64": "{secret}"}}],
                  "forward_claims": [{{"claim": "sub", "header": "x-sub"}}, {{"claim": "tenant", "header": "x-tenant"}}]}},
                {{"name": "pk", "issuer": "{PK_ISSUER}", "audiences": ["api", "other"],
                  "max_lifetime_s": 3600, "required_claims": ["sub"],
                  "pem": [{{"kid": "es", "alg": "ES256", "pem": {es}}},
                          {{"kid": "ed", "alg": "EdDSA", "pem": {ed}}}]}},
                {{"name": "remote", "issuer": "{REMOTE_ISSUER}", "audiences": ["api"],
                  "remote_jwks": {{"cluster": "jwks", "min_refetch_interval_s": 1}}}}
            ],
            "cache": {{"max_entries": 16}}
        }}}}"#,
        es = pem_json(ES256_PUBLIC_PEM),
        ed = pem_json(ED25519_PUBLIC_PEM),
    )
}

thread_local! {
    static AUTH: Auth = Config::from_json(auth_config_json().as_bytes())
        .expect("the fuzz auth config compiles")
        .auth;
}

/// Verifies `token` twice with fresh per-worker state (the second time
/// through the verified-token cache) and checks both verdicts agree.
fn verify_token(auth: &Auth, token: &str, providers: &[usize]) {
    let mut state = AuthState::new(auth);
    let first = auth.verify(token, providers, NOW_MS, &mut state);
    let second = auth.verify(token, providers, NOW_MS, &mut state);
    assert_eq!(first, second, "the cache changed the verdict");
    match &first {
        Verdict::Verified(id) => {
            assert!(providers.is_empty() || providers.contains(&id.provider));
            assert_ne!(id.provider, 2, "the remote provider has no keys yet");
            let _ = auth.forward_headers(id);
        }
        Verdict::Denied(e) => {
            assert!(!e.code().is_empty());
            // Messages never carry the token.
            if token.len() >= 8 {
                assert!(!e.to_string().contains(token));
            }
        }
        Verdict::NeedKeys { provider } => assert_eq!(*provider, 2),
    }
}

/// Target `jwt`: arbitrary bytes as a token, for any provider and for each
/// provider alone; also through the token extractor.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    AUTH.with(|auth| {
        for providers in [&[][..], &[0], &[1], &[2]] {
            verify_token(auth, token, providers);
        }
        let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
        if let Ok(Some(t)) = auth.extract_token(&headers, "/v1/x") {
            verify_token(auth, &t, &[]);
        }
        let _ = auth.extract_token(&[], token);
    });
}

/// Target `jwt_structured`: `mode, header JSON, 0x00, payload JSON, 0x00,
/// signature`. Header and payload are base64url-encoded so the fuzzer works on
/// JSON directly and reaches claim validation; mode bit 0 set keeps the given
/// signature bytes, clear signs with the `hs` provider's secret (so any header
/// and claims get a valid HS256 signature); bit 1 pads the parts with `=`.
pub fn jwt_structured(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |b| *b == 0);
    let header = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let mut signing_input = format!("{}.{}", b64url(header), b64url(payload));
    if mode & 2 != 0 {
        signing_input = signing_input.replace('.', "=.");
    }
    let sig = if mode & 1 == 0 {
        hmac_sha256::HMAC::mac(signing_input.as_bytes(), HS_SECRET).to_vec()
    } else {
        sig.to_vec()
    };
    let token = format!("{signing_input}.{}", b64url(&sig));
    AUTH.with(|auth| {
        verify_token(auth, &token, &[]);
        verify_token(auth, &token, &[1]);
    });
}

/// Tokens the `jwks` target verifies once a document is loaded: signed by
/// the ES256 and Ed25519 keys for the remote issuer, plus a forged one.
fn remote_tokens() -> Vec<String> {
    use jwt_simple::prelude::*;
    let claims = || {
        let mut c = Claims::create(Duration::from_secs(600))
            .with_issuer(REMOTE_ISSUER)
            .with_audience("api")
            .with_subject("fuzz");
        c.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
        c.invalid_before = Some(UnixTimeStamp::from_secs(NOW_S));
        c.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 600));
        c
    };
    let es = ES256KeyPair::from_pem(ES256_PRIVATE_PEM)
        .unwrap()
        .with_key_id("es");
    let ed = Ed25519KeyPair::from_pem(ED25519_PRIVATE_PEM)
        .unwrap()
        .with_key_id("ed");
    let ed_nokid = Ed25519KeyPair::from_pem(ED25519_PRIVATE_PEM).unwrap();
    let es_token = es.sign(claims()).unwrap();
    let forged = format!(
        "{}.{}",
        es_token.rsplit_once('.').unwrap().0,
        b64url(&[0u8; 64])
    );
    vec![
        es_token,
        ed.sign(claims()).unwrap(),
        ed_nokid.sign(claims()).unwrap(),
        forged,
    ]
}

thread_local! {
    static REMOTE_TOKENS: Vec<String> = remote_tokens();
}

/// Target `jwks`: arbitrary bytes as a fetched JWKS body (status 200), then
/// the loaded keys verify tokens; a failed refetch keeps them.
pub fn jwks(data: &[u8]) {
    AUTH.with(|auth| {
        REMOTE_TOKENS.with(|tokens| {
            let mut state = AuthState::new(auth);
            assert!(state.begin_fetch(2, NOW_MS, false));
            let loaded = state.finish_fetch(auth, 2, Some(200), data, NOW_MS);
            match &loaded {
                Ok(n) => {
                    assert!((1..=64).contains(n), "{n} keys");
                    assert!(state.remote_loaded(2));
                }
                Err(e) => {
                    assert!(!state.remote_loaded(2));
                    assert!(!e.code().is_empty());
                }
            }
            assert!(!state.in_flight(2, NOW_MS));
            let verdicts: Vec<Verdict> = tokens
                .iter()
                .map(|t| auth.verify(t, &[2], NOW_MS + 1, &mut state))
                .collect();
            if loaded.is_err() {
                for v in &verdicts {
                    assert!(!matches!(v, Verdict::Verified(_)));
                }
            }
            // The same document again: same key count.
            let again = state.finish_fetch(auth, 2, Some(200), data, NOW_MS + 2);
            assert_eq!(loaded.is_ok(), again.is_ok());
            if let (Ok(a), Ok(b)) = (&loaded, &again) {
                assert_eq!(a, b);
            }
            // An outage keeps what was loaded.
            let _ = state.finish_fetch(auth, 2, Some(503), b"", NOW_MS + 3);
            assert_eq!(state.remote_loaded(2), loaded.is_ok());
            let _ = auth.verify(&tokens[0], &[], NOW_MS + 4, &mut state);
        })
    });
}

/// Target `config`: arbitrary bytes as the plugin configuration. Errors name
/// a field and never echo more than a bounded message.
pub fn config(data: &[u8]) {
    match Config::from_json(data) {
        Ok(c) => {
            let _ = c.needs_peer_address();
            let _ = c.request_body_max_bytes();
            let mut state = AuthState::new(&c.auth);
            for p in state.due_fetches(&c.auth, NOW_MS) {
                assert!(state.begin_fetch(p, NOW_MS, false));
            }
            let _ = c.rate_limit.shared_data_bound_bytes();
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "an error says what is wrong");
            let _ = e.to_string();
        }
    }
}

/// Two screeners: the defaults, and one in monitor mode over every role and
/// only the last turn, with operator rules, a model allow-list and eager
/// decoding (short base64 and hex runs).
const SCREEN_CONFIGS: [&str; 2] = [
    r#"{"unmatched": "allow", "screening": {}}"#,
    r#"{"unmatched": "allow", "screening": {
        "mode": "monitor", "roles": ["system", "developer", "user", "assistant", "tool"],
        "history": "last", "allow_token_input": true, "max_tokens_cap": 4096,
        "max_messages": 16, "max_message_chars": 2000, "max_total_chars": 4000,
        "allowed_models": ["gpt-4*", "claude-3-opus"],
        "deny": [{"id": "op.secret_word", "pattern": "(?i)xyzzy\\s+plugh"},
                 {"id": "op.phrase", "phrases": ["open the pod bay doors"]}],
        "allow": [{"id": "op.allow_quotes", "pattern": "(?i)quoted example"}],
        "allow_overrides": ["instruction_override"],
        "decode": {"min_base64_chars": 8, "min_hex_chars": 8, "max_runs": 8, "max_decoded_bytes": 4096}
    }}"#,
];

/// Paths the screener tells APIs apart by.
const SCREEN_PATHS: [&str; 8] = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/other",
    "/v1/chat/completions/?stream=true",
    "/",
];

thread_local! {
    static SCREENERS: Vec<Config> = SCREEN_CONFIGS
        .iter()
        .map(|j| Config::from_json(j.as_bytes()).expect("the fuzz screening config compiles"))
        .collect();
}

/// Target `screening`: byte 0 picks the path (bits 0..3) and the screener
/// (bit 3); the rest is the request body.
pub fn screening(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let path = SCREEN_PATHS[usize::from(sel) % SCREEN_PATHS.len()];
    SCREENERS.with(|configs| {
        let config = &configs[usize::from(sel >> 3) % configs.len()];
        match config.screening.screen(path, body) {
            ScreenOutcome::Pass {
                flagged,
                prompt_chars,
                ..
            } => {
                assert!(prompt_chars <= body.len(), "text comes from the body");
                if !flagged.is_empty() {
                    let v = tollgate::screening::monitor_header_value(&flagged);
                    assert!(v.starts_with("flagged; rules="));
                }
            }
            ScreenOutcome::Block { hit, .. } => assert!(!hit.rule_id.is_empty()),
            ScreenOutcome::Invalid(e) => assert!(!e.code().is_empty()),
        }
    });
    for api in [
        Api::Chat,
        Api::Responses,
        Api::Completions,
        Api::Embeddings,
        Api::Anthropic,
        Api::Unknown,
    ] {
        if let Ok(ex) = shapes::extract(api, body, sel & 0x80 != 0) {
            assert!(ex.new_turn_start <= ex.units.max(1));
        }
    }
}

/// Target `normalize`: the screening text views of arbitrary (lossily
/// decoded) text.
pub fn normalize_text(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let folded = normalize::fold(&input);
    let text = &folded.text;
    for leet in [false, true] {
        let toks = normalize::tokenize(text, leet);
        assert_eq!(toks.spans.len(), toks.caps.len());
        for i in 0..toks.len() {
            let _ = toks.word(i);
            let _ = toks.is_caps(i);
            let (s, e) = toks.spans[i];
            assert!(s <= e && e <= toks.text.len());
        }
        let _ = normalize::phrase(&input, leet);
    }
    let _ = normalize::has_leet(text);
    let _ = normalize::squash(text);
    // Folding is idempotent enough never to panic on its own output.
    let _ = normalize::fold(text);
}

/// Redactors for the stream target: a tiny window (so inputs of a few
/// hundred bytes cross many releases) and the defaults.
const REDACTION_CONFIGS: [&str; 2] = [
    r#"{"unmatched": "allow", "redaction": {"window_bytes": 64, "max_match_bytes": 128}}"#,
    r#"{"unmatched": "allow", "redaction": {}}"#,
];

thread_local! {
    static REDACTORS: Vec<Redactor> = REDACTION_CONFIGS
        .iter()
        .map(|j| Config::from_json(j.as_bytes()).expect("the fuzz redaction config compiles").redaction)
        .collect();
}

/// Splits `payload` at positions read from `cuts` (two bytes each).
fn chunk_at<'a>(payload: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (payload.len() + 1))
        .collect();
    at.sort_unstable();
    let mut out = Vec::with_capacity(at.len() + 1);
    let mut prev = 0;
    for a in at {
        out.push(&payload[prev..a]);
        prev = a;
    }
    out.push(&payload[prev..]);
    out
}

/// Largest suppressed-PEM tail kept (the window's `PEM_TAIL_BYTES * 2` and an `END` line).
const PEM_SLACK: usize = 512;

/// Target `stream_redactor`: byte 0 = options (bit 0: SSE, bit 1: default
/// window), byte 1 = number of cuts (low 4 bits), then two bytes per cut,
/// then the payload. Checks: never panics; what is held stays within the
/// window, `max_match_bytes` and the current chunk; SSE output does not
/// depend on the chunking; text output equals whole-text redaction when the
/// input is UTF-8 and every detected value is short (see fuzz/README.md).
pub fn stream_redactor(data: &[u8]) {
    let [opts, ncuts, rest @ ..] = data else {
        return;
    };
    let ncuts = usize::from(ncuts & 15);
    let Some((cuts, payload)) = rest.split_at_checked(ncuts * 2) else {
        return;
    };
    let sse = opts & 1 != 0;
    let (window, max_match) = if opts & 2 != 0 {
        (256, 16 * 1024)
    } else {
        (64, 128)
    };
    let kind = if sse {
        StreamKind::Sse
    } else {
        StreamKind::Text
    };
    REDACTORS.with(|rs| {
        let r = &rs[usize::from(opts >> 1) & 1];
        let Some(profile) = r.default_profile() else {
            panic!("the default profile redacts every built-in entity");
        };
        let run = |chunks: &[&[u8]]| -> Vec<u8> {
            let mut counts = Counts::default();
            let mut s = r.stream(profile, kind);
            let mut out = Vec::new();
            for c in chunks {
                out.extend(s.push(c, &mut counts));
                let held = s.buffered_bytes();
                let bound = if sse {
                    // One event (1 MiB cap) plus 64 windows, plus the chunk.
                    (1 << 20) + 65 * (max_match + window + PEM_SLACK) + c.len()
                } else {
                    max_match + window + PEM_SLACK + c.len()
                };
                assert!(held <= bound, "held {held} > {bound}");
            }
            out.extend(s.finish(&mut counts));
            out
        };
        let chunks = chunk_at(payload, cuts);
        let streamed = run(&chunks);
        if sse {
            let whole = run(&[payload]);
            assert_eq!(streamed, whole, "SSE output depends on the chunking");
            return;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return;
        };
        // Equal only when the window never has to decide early: every value
        // found is short, and no unbroken run is long enough to be forced out
        // as a still-growing match (fuzz/README.md).
        let short = r
            .find_spans(profile, text)
            .iter()
            .all(|(s, e, _)| e - s <= window / 4)
            && text
                .split(|c: char| c.is_whitespace())
                .all(|run| run.len() <= window / 4);
        if short {
            let mut counts = Counts::default();
            let want = r.redact_text(profile, text, &mut counts);
            assert_eq!(
                String::from_utf8_lossy(&streamed),
                want,
                "streamed redaction differs from whole-text redaction"
            );
        }
    });
}

/// A route with a token budget that caps streams, and redaction on.
const METER_CONFIG: &str = r#"{
    "unmatched": "allow",
    "routes": [{"name": "chat", "match": {"prefix": "/"}, "auth": "none"}],
    "rate_limit": {"cap_streams": true, "policies": [
        {"name": "tok", "kind": "llm_tokens", "key": ["route"], "capacity": 100000,
         "refill": {"tokens": 1000, "per_s": 1}, "slots": 4}]},
    "redaction": {"window_bytes": 64, "max_match_bytes": 128}
}"#;

thread_local! {
    static METER: Config = Config::from_json(METER_CONFIG.as_bytes()).expect("the fuzz meter config compiles");
}

/// Target `sse_usage`: the pipeline's response path for a metered,
/// redacted stream. Byte 0: content type (bits 0..1) and output allowance
/// (bits 2..7, in tokens x 8); byte 1 = number of cuts; then cuts and body.
/// Never panics; once capped, nothing more is emitted.
pub fn sse_usage(data: &[u8]) {
    let [opts, ncuts, rest @ ..] = data else {
        return;
    };
    let ncuts = usize::from(ncuts & 15);
    let Some((cuts, body)) = rest.split_at_checked(ncuts * 2) else {
        return;
    };
    let ct = [
        "text/event-stream",
        "text/event-stream; charset=utf-8",
        "application/json",
        "text/plain",
    ][usize::from(opts & 3)];
    let output = u64::from(opts >> 2) * 8;
    METER.with(|config| {
        let mut stream = StreamState::default();
        stream.route = Some("chat".into());
        stream.reservations = vec![Reservation {
            policy: 0,
            tier: None,
            slot: 0,
            owner: 1,
            amount: 10 + output,
            price: None,
            prompt_estimate: 10,
        }];
        stream.estimate = Some(Estimate {
            prompt: 10,
            output,
            price: None,
        });
        let headers = vec![("content-type".to_string(), ct.to_string())];
        let _ = resp::on_response_headers(config, &mut stream, &headers);
        assert!(resp::wants_body(&stream));
        let chunks = chunk_at(body, cuts);
        let n = chunks.len();
        let mut held: Vec<u8> = Vec::new();
        let mut capped = false;
        for (i, c) in chunks.iter().enumerate() {
            let eos = i + 1 == n;
            held.extend_from_slice(c);
            match resp::on_response_body(config, &mut stream, &held, eos) {
                BodyStep::Hold => continue,
                BodyStep::Replace(out) => {
                    if capped {
                        assert!(out.is_empty(), "nothing after the cap");
                    }
                }
                BodyStep::Pass => {}
            }
            held.clear();
            capped = capped || stream.denied.is_some();
        }
        let _ = resp::usage(&stream);
        let _ = resp::streamed_tokens(&stream);
    });
}

/// Policies over few slots, so stored values are always in reach: a request
/// policy and a token budget.
const BUCKET_CONFIG: &str = r#"{
    "unmatched": "allow",
    "rate_limit": {"policies": [
        {"name": "req", "key": ["ip"], "capacity": 5, "refill": {"tokens": 1, "per_s": 1}, "slots": 2},
        {"name": "tok", "kind": "llm_tokens", "key": ["ip"], "capacity": 1000,
         "refill": {"tokens": 100, "per_s": 1}, "slots": 2}]}
}"#;

thread_local! {
    static BUCKETS: Config = Config::from_json(BUCKET_CONFIG.as_bytes()).expect("the fuzz bucket config compiles");
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    for (k, x) in w.iter_mut().enumerate() {
        *x = b.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(w)
}

/// Target `bucket`: arbitrary bytes as a stored slot value. The codec either
/// refuses them or round-trips them exactly; a decoded bucket survives every
/// operation at any rate and time; and the limiter, reading them from shared
/// data, answers Admitted, Limited or Failed.
pub fn bucket(data: &[u8]) {
    if let Ok(b) = Bucket::decode(data) {
        assert_eq!(&b.encode()[..], data, "decode/encode round-trips");
        let rate = Rate::new(
            u64_at(data, 41).max(1),
            u64_at(data, 49).max(1),
            u64_at(data, 57).max(1),
        )
        .or_else(|| Rate::new(5, 1, 1000))
        .unwrap();
        let now = u64_at(data, 25).wrapping_add(u64_at(data, 65));
        let _ = b.is_idle(now);
        let _ = b.remaining(&rate);
        let _ = b.full_in_ms(now);
        let r = b.refilled(&rate, now);
        let amount = u64_at(data, 73);
        let _ = r.take(&rate, amount, now);
        let _ = r.give_back(&rate, amount, now).encode();
        let _ = r.charge(&rate, amount, now).encode();
    }
    BUCKETS.with(|config| {
        let store = MemoryStore::new();
        for slot in 0..2 {
            store.put_raw(&format!("tg:rl:v1:req:{slot}"), data);
            store.put_raw(&format!("tg:rl:v1:tok:{slot}"), data);
        }
        let headers: Vec<(String, String)> = Vec::new();
        let facts = RequestFacts {
            subject: None,
            claims: None,
            roles: &[],
            route: "",
            peer_ip: Some("192.0.2.1:1234"),
            headers: &headers,
        };
        for now in [NOW_MS, 0, u64::MAX / 2, u64::MAX] {
            match config.rate_limit.check_requests(&store, &facts, now) {
                Outcome::Admitted { .. } => {}
                Outcome::Limited { retry_after_s, .. } => assert!(retry_after_s >= 1),
                Outcome::Failed { kind } => assert!(!kind.is_empty()),
            }
            if let Ok(r) = config.rate_limit.reserve_tokens(&store, &facts, 50, now) {
                let _ = config.rate_limit.settle(&store, &r.reservations, 70, now);
                let _ = config.rate_limit.settle(&store, &r.reservations, 0, now);
            }
        }
    });
}

/// The body of target `name`, if there is one.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
