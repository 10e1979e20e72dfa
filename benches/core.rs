//! Native micro-benchmarks of the pure core (issue 7): `cargo bench --bench core`.
//!
//! No Criterion (not an allowed crate): a small timing loop over
//! `std::time::Instant` and `std::hint::black_box`. Each case is warmed up,
//! calibrated so one batch takes about `BATCH_MS`, then timed over `BATCHES`
//! batches; the table gives the median batch's ns per operation, operations
//! per second, and MB/s for the cases that process bytes (1 MB = 10^6 B).
//!
//! `cargo bench --bench core -- jwt redact` runs only the cases whose name
//! contains one of the words. `BENCH_CORE_QUICK=1` shortens every case.
//!
//! Everything is built through `Config::from_json`, as the filter does, so
//! the numbers include what a real configuration compiles to (the full
//! built-in screening pack, every built-in redaction entity).

// A benchmark is a test-like program: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration as StdDuration, Instant};

use jwt_simple::prelude::*;
use tollgate::auth::{AuthState, Verdict};
use tollgate::config::Config;
use tollgate::rate_limit::{MemoryStore, Outcome, RequestFacts};
use tollgate::redaction::{Counts, StreamKind};
use tollgate::screening::ScreenOutcome;

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "bench";
const NOW_S: u64 = 1_800_000_000;
const NOW_MS: u64 = NOW_S * 1000 + 5_000;
const HS_SECRET: &[u8] = b"bench-hs256-secret-0123456789abcdef-0123456789abcdef";
const CHAT_PATH: &str = "/v1/chat/completions";

// --------------------------------------------------------------------------
// Timing
// --------------------------------------------------------------------------

struct Timing {
    warmup: StdDuration,
    batch: StdDuration,
    batches: usize,
}

impl Timing {
    fn from_env() -> Timing {
        if std::env::var("BENCH_CORE_QUICK").is_ok_and(|v| !v.is_empty() && v != "0") {
            Timing {
                warmup: StdDuration::from_millis(30),
                batch: StdDuration::from_millis(10),
                batches: 3,
            }
        } else {
            Timing {
                warmup: StdDuration::from_millis(200),
                batch: StdDuration::from_millis(60),
                batches: 9,
            }
        }
    }
}

/// One result row.
struct Row {
    name: String,
    ns_per_op: f64,
    /// Bytes processed per operation, for MB/s.
    bytes: Option<usize>,
    /// Spread of the batches: (max - min) / median.
    spread: f64,
    note: String,
}

struct Bench {
    timing: Timing,
    filters: Vec<String>,
    rows: Vec<Row>,
}

impl Bench {
    fn wants(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// Times `op`, which must do one operation per call and return something
    /// that depends on its work (it goes through `black_box`).
    fn run<T>(&mut self, name: &str, bytes: Option<usize>, note: &str, mut op: impl FnMut() -> T) {
        if !self.wants(name) {
            return;
        }
        // Warm-up, which also measures a first estimate of the cost per call.
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < self.timing.warmup || calls < 3 {
            black_box(op());
            calls += 1;
        }
        let per_call = start.elapsed().as_secs_f64() / calls as f64;
        let iters = ((self.timing.batch.as_secs_f64() / per_call) as u64).max(1);

        let mut samples: Vec<f64> = (0..self.timing.batches)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..iters {
                    black_box(op());
                }
                t.elapsed().as_secs_f64() * 1e9 / iters as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        let spread = (samples[samples.len() - 1] - samples[0]) / median;
        eprintln!("  {name:36} {median:>12.0} ns/op");
        self.rows.push(Row {
            name: name.to_string(),
            ns_per_op: median,
            bytes,
            spread,
            note: note.to_string(),
        });
    }

    fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| case | ns/op | ops/s | MB/s | spread | note |\n");
        out.push_str("|---|---:|---:|---:|---:|---|\n");
        for r in &self.rows {
            let ops = 1e9 / r.ns_per_op;
            let mbs = r
                .bytes
                .map(|b| format!("{:.1}", b as f64 / r.ns_per_op * 1e3))
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0}% | {} |\n",
                r.name,
                fmt_ns(r.ns_per_op),
                fmt_count(ops),
                mbs,
                r.spread * 100.0,
                r.note
            ));
        }
        out
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

fn fmt_count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

// --------------------------------------------------------------------------
// Inputs
// --------------------------------------------------------------------------

/// A tiny deterministic generator (xorshift64*), so every run sees the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "answers",
    "questions",
    "about",
    "weather",
    "history",
    "and",
    "science",
    "please",
    "summarise",
    "this",
    "report",
    "for",
    "our",
    "team",
    "meeting",
    "tomorrow",
    "morning",
    "with",
    "three",
    "short",
    "bullet",
    "points",
    "explain",
    "how",
    "photosynthesis",
    "works",
    "in",
    "simple",
    "terms",
    "a",
    "recipe",
    "uses",
    "flour",
    "water",
    "salt",
    "yeast",
    "quarterly",
    "revenue",
    "grew",
    "by",
    "nine",
    "percent",
    "while",
    "costs",
    "stayed",
    "flat",
    "translate",
    "paragraph",
    "into",
    "french",
    "keeping",
    "tone",
    "friendly",
    "list",
    "of",
    "museums",
    "near",
    "river",
    "open",
    "on",
    "sunday",
    "compare",
    "two",
    "approaches",
    "to",
    "caching",
    "database",
    "queries",
    "write",
    "haiku",
    "autumn",
    "leaves",
    "falling",
];

/// Benign prose of exactly `n` bytes (ASCII words and spaces).
fn benign_text(rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        s.push_str(rng.pick(WORDS));
        s.push(if rng.below(12) == 0 { '.' } else { ' ' });
    }
    s.truncate(n);
    s
}

/// A Luhn-valid 16-digit card number, grouped by 4.
fn luhn_card(rng: &mut Rng) -> String {
    let mut digits: Vec<u32> = vec![4];
    while digits.len() < 15 {
        digits.push(rng.below(10) as u32);
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    let s: String = digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect();
    format!("{} {} {} {}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
}

fn pii_value(rng: &mut Rng, i: usize) -> String {
    match i % 4 {
        0 => format!("jane.doe{}@example.com", rng.below(1000)),
        1 => luhn_card(rng),
        2 => format!(
            "{:03}-{:02}-{:04}",
            100 + rng.below(500),
            10 + rng.below(80),
            1000 + rng.below(8000)
        ),
        _ => {
            let tail: String = (0..40)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.below(36)]))
                .collect();
            format!("sk-proj-{tail}")
        }
    }
}

/// Prose of about `n` bytes with a PII value (email, card, SSN, `sk-` key,
/// in turn) every `every` bytes.
fn pii_text(rng: &mut Rng, n: usize, every: usize) -> String {
    let mut s = String::with_capacity(n + 64);
    let mut i = 0;
    while s.len() < n {
        s.push_str(&benign_text(rng, every.saturating_sub(40).max(8)));
        s.push(' ');
        s.push_str(&pii_value(rng, i));
        s.push(' ');
        i += 1;
    }
    s
}

/// A chat request of at most (and within a few bytes of) `size` bytes:
/// benign prose in messages of at most 4000 characters, like the `make bench` bodies.
fn chat_body(size: usize) -> Vec<u8> {
    let build = |n: usize| {
        let text = benign_text(&mut Rng(size as u64 | 1), n);
        let mut messages =
            vec![serde_json::json!({"role": "system", "content": "You are a helpful assistant."})];
        let mut j = 0;
        while j < text.len() {
            let end = (j + 4000).min(text.len());
            let role = if j % 8000 == 0 { "user" } else { "assistant" };
            messages.push(serde_json::json!({"role": role, "content": &text[j..end]}));
            j = end;
        }
        serde_json::to_vec(
            &serde_json::json!({"model": "bench-model", "messages": messages, "max_tokens": 256}),
        )
        .unwrap()
    };
    let mut n = size;
    loop {
        let body = build(n);
        if body.len() <= size {
            return body;
        }
        n -= body.len() - size;
    }
}

/// An OpenAI-style chat completion carrying `content`.
fn completion_json(content: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000u64,
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": content.len() / 4, "total_tokens": 20 + content.len() / 4}
    }))
    .unwrap()
}

/// The request headers of a JSON chat POST of `len` bytes as the host hands
/// them over, with the bearer `token` when given.
fn chat_post_headers(len: usize, token: Option<&str>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = [
        (":authority", "127.0.0.1:10000"),
        (":path", CHAT_PATH),
        (":method", "POST"),
        (":scheme", "http"),
        ("content-type", "application/json"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "6f1c1f57-8f1a-4a43-9d5e-0d7c8a6e2b11"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    headers.push(("content-length".to_string(), len.to_string()));
    if let Some(token) = token {
        headers.push(("authorization".to_string(), format!("Bearer {token}")));
    }
    headers
}

/// One `chat.completion.chunk` SSE event with a small delta.
fn sse_event(piece: &str) -> Vec<u8> {
    let chunk = serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": "bench-model",
        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]
    });
    format!("data: {chunk}\n\n").into_bytes()
}

// --------------------------------------------------------------------------
// Cases
// --------------------------------------------------------------------------

/// A public key in one of the configuration's key forms, and a signed token.
struct Signed {
    alg: &'static str,
    key_json: serde_json::Value,
    token: String,
}

fn claims() -> JWTClaims<serde_json::Map<String, serde_json::Value>> {
    let mut custom = serde_json::Map::new();
    custom.insert("roles".into(), serde_json::json!(["user"]));
    let mut c = Claims::with_custom_claims(custom, Duration::from_secs(600))
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject("alice");
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW_S));
    c.invalid_before = Some(UnixTimeStamp::from_secs(NOW_S));
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW_S + 3600));
    c
}

fn pem_key(alg: &str, pem: String) -> serde_json::Value {
    serde_json::json!({"kid": alg, "alg": alg, "pem": pem})
}

/// Keys generated here with jwt-simple (RSA-2048 takes a moment).
fn signed_tokens() -> Vec<Signed> {
    let mut out = Vec::new();
    let hs = HS256Key::from_bytes(HS_SECRET).with_key_id("HS256");
    let secret = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, HS_SECRET);
    out.push(Signed {
        alg: "HS256",
        key_json: serde_json::json!({"kid": "HS256", "alg": "HS256", "secret_base64": secret}),
        token: hs.authenticate(claims()).unwrap(),
    });
    let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("RS256");
    out.push(Signed {
        alg: "RS256",
        key_json: pem_key("RS256", rs.public_key().to_pem().unwrap()),
        token: rs.sign(claims()).unwrap(),
    });
    let ps = PS256KeyPair::generate(2048).unwrap().with_key_id("PS256");
    out.push(Signed {
        alg: "PS256",
        key_json: pem_key("PS256", ps.public_key().to_pem().unwrap()),
        token: ps.sign(claims()).unwrap(),
    });
    let es = ES256KeyPair::generate().with_key_id("ES256");
    out.push(Signed {
        alg: "ES256",
        key_json: pem_key("ES256", es.public_key().to_pem().unwrap()),
        token: es.sign(claims()).unwrap(),
    });
    let es384 = ES384KeyPair::generate().with_key_id("ES384");
    out.push(Signed {
        alg: "ES384",
        key_json: pem_key("ES384", es384.public_key().to_pem().unwrap()),
        token: es384.sign(claims()).unwrap(),
    });
    let ed = Ed25519KeyPair::generate().with_key_id("EdDSA");
    out.push(Signed {
        alg: "EdDSA",
        key_json: pem_key("EdDSA", ed.public_key().to_pem()),
        token: ed.sign(claims()).unwrap(),
    });
    out
}

fn jwt_config(s: &Signed, cache_entries: usize) -> Config {
    let (hmac, pem) = if s.alg == "HS256" {
        (vec![s.key_json.clone()], vec![])
    } else {
        (vec![], vec![s.key_json.clone()])
    };
    let json = serde_json::json!({
        "auth": {
            "providers": [{"name": "bench", "issuer": ISSUER, "audiences": [AUDIENCE],
                           "hmac": hmac, "pem": pem}],
            "cache": {"max_entries": cache_entries}
        },
        "routes": [{"name": "chat", "match": {"prefix": CHAT_PATH}}]
    });
    Config::from_json(json.to_string().as_bytes()).unwrap()
}

fn bench_jwt(b: &mut Bench) {
    if !b.wants("jwt") {
        return;
    }
    for s in signed_tokens() {
        for (cache, label) in [(0usize, "nocache"), (1024, "cache")] {
            let config = jwt_config(&s, cache);
            let mut state = AuthState::new(&config.auth);
            let verdict = config.auth.verify(&s.token, &[], NOW_MS, &mut state);
            assert!(
                matches!(verdict, Verdict::Verified(_)),
                "{} {label}: {verdict:?}",
                s.alg
            );
            let note = if cache > 0 {
                "same token: a cache hit"
            } else {
                "signature + claims checked"
            };
            b.run(&format!("jwt verify {} {label}", s.alg), None, note, || {
                matches!(
                    config
                        .auth
                        .verify(black_box(&s.token), &[], NOW_MS, &mut state),
                    Verdict::Verified(_)
                )
            });
        }
    }
}

fn bench_rate_limit(b: &mut Bench) {
    let json = serde_json::json!({
        "routes": [{"name": "chat", "match": {"prefix": CHAT_PATH}, "auth": "none"}],
        "rate_limit": {"policies": [
            {"name": "per_ip", "key": ["ip"], "capacity": 1_000_000_000u64,
             "refill": {"tokens": 1_000_000_000u64, "per_s": 1}}
        ]}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    let store = MemoryStore::new();
    let headers: Vec<(String, String)> = Vec::new();
    let facts = RequestFacts {
        subject: None,
        claims: None,
        roles: &[],
        route: "chat",
        peer_ip: Some("203.0.113.9:5555"),
        headers: &headers,
    };
    let rl = &config.rate_limit;
    assert!(matches!(
        rl.check_requests(&store, &facts, NOW_MS),
        Outcome::Admitted { .. }
    ));
    let mut now = NOW_MS;
    b.run(
        "rate limit take (1 policy, ip)",
        None,
        "MemoryStore; bucket never empties",
        || {
            // The clock moves, so every take also refills.
            now += 1;
            matches!(
                rl.check_requests(&store, black_box(&facts), now),
                Outcome::Admitted { .. }
            )
        },
    );
}

fn bench_screening(b: &mut Bench) {
    let json = serde_json::json!({
        "routes": [{"name": "chat", "match": {"prefix": CHAT_PATH}, "auth": "none"}],
        "screening": {}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    for kb in [1usize, 8, 64] {
        let body = chat_body(kb * 1024);
        let outcome = config.screening.screen(CHAT_PATH, &body);
        assert!(
            // Admitted (the model may flag the random word salad, not block it).
            matches!(&outcome, ScreenOutcome::Pass { flagged, .. }
                if flagged.iter().all(|h| h.rule_id.starts_with("model."))),
            "{kb} KiB: {outcome:?}"
        );
        b.run(
            &format!("screen {kb} KiB chat"),
            Some(body.len()),
            "default rules + model, benign text",
            || config.screening.screen(CHAT_PATH, black_box(&body)),
        );
    }
    // The learned model alone, on already-normalised text (issue 12 target:
    // at least 100 MB/s natively).
    let model =
        tollgate::screening::model::Model::load(tollgate::screening::model::SHIPPED, "m").unwrap();
    for kb in [1usize, 64] {
        let body = chat_body(kb * 1024);
        let text = tollgate::screening::model::model_text(&String::from_utf8_lossy(&body));
        b.run(
            &format!("screening model {kb} KiB"),
            Some(text.len()),
            "hashed n-gram heads with a residual hidden layer, one pass",
            || model.score(black_box(&text)),
        );
    }
}

fn bench_redaction(b: &mut Bench) {
    let json = serde_json::json!({
        "routes": [{"name": "chat", "match": {"prefix": CHAT_PATH}, "auth": "none"}],
        "redaction": {}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    let r = &config.redaction;
    let profile = r.default_profile().unwrap();
    let mut rng = Rng(0x5eed);
    const SIZE: usize = 64 * 1024;
    let dense = pii_text(&mut rng, SIZE, 100);
    let free = benign_text(&mut rng, SIZE);

    let mut counts = Counts::default();
    r.redact_text(profile, &dense, &mut counts);
    assert!(counts.total() > 500, "dense text: {counts:?}");
    let mut counts = Counts::default();
    r.redact_text(profile, &free, &mut counts);
    assert!(counts.is_empty(), "PII-free text: {counts:?}");

    for (label, text) in [("PII-dense", &dense), ("PII-free", &free)] {
        b.run(
            &format!("redact_text 64 KiB {label}"),
            Some(text.len()),
            if label == "PII-dense" {
                "a PII value every ~100 B, all entities on"
            } else {
                "all entities on"
            },
            || {
                let mut counts = Counts::default();
                r.redact_text(profile, black_box(text), &mut counts).len()
            },
        );
        let doc = completion_json(text);
        r.redact_json(profile, &doc, &mut Counts::default())
            .unwrap();
        b.run(
            &format!("redact_json 64 KiB {label}"),
            Some(doc.len()),
            "chat completion document",
            || {
                let mut counts = Counts::default();
                r.redact_json(profile, black_box(&doc), &mut counts)
                    .map(|v| v.len())
            },
        );
    }

    // Issue 16's target case: a 2 KiB JSON answer (prose, two PII values).
    let mut two_k = benign_text(&mut rng, 2048 - 64);
    two_k.push_str(" mail john.doe@example.com card 4111 1111 1111 1111.");
    let doc2k = completion_json(&two_k);
    b.run(
        "redact_json 2 KiB answer",
        Some(doc2k.len()),
        "chat completion, prose + 2 PII values",
        || {
            let mut counts = Counts::default();
            r.redact_json(profile, black_box(&doc2k), &mut counts)
                .map(|v| v.len())
        },
    );
    // The same answer streamed as a model sends it: 4 characters per event
    // (issue 14's pace). Per byte of event, to compare with the JSON per byte.
    let chars: Vec<char> = two_k.chars().collect();
    let tiny: Vec<Vec<u8>> = chars
        .chunks(4)
        .map(|c| sse_event(&c.iter().collect::<String>()))
        .collect();
    let tiny_bytes: usize = tiny.iter().map(Vec::len).sum();
    b.run(
        "stream SSE 2 KiB answer in 4-char events",
        Some(tiny_bytes),
        &format!("{} events, whole answer per iteration", tiny.len()),
        || {
            let mut stream = r.stream(profile, StreamKind::Sse);
            let mut counts = Counts::default();
            let mut n = 0;
            for e in &tiny {
                n += stream.push(black_box(e), &mut counts).len();
            }
            n + stream.finish(&mut counts).len()
        },
    );

    // `make bench`'s `sse` body: ~16 KiB of chat chunks carrying 24-character
    // pieces, one in eight a PII value, as Envoy hands it over (one push).
    // Per byte, to compare with `redact_json 64 KiB PII-dense`.
    let mut body = Vec::new();
    let mut k = 0;
    while body.len() < 16 * 1024 {
        let piece = if k % 8 == 0 {
            format!("{} ", pii_value(&mut rng, k / 8))
        } else {
            format!("{} ", benign_text(&mut rng, 24))
        };
        body.extend(sse_event(&piece));
        k += 1;
    }
    body.extend_from_slice(b"data: [DONE]\n\n");
    b.run(
        "stream SSE 16 KiB answer in one push",
        Some(body.len()),
        &format!("{k} events of 24-char pieces, 1 in 8 with PII (make bench's sse body)"),
        || {
            let mut stream = r.stream(profile, StreamKind::Sse);
            let mut counts = Counts::default();
            let n = stream.push(black_box(&body), &mut counts).len();
            n + stream.finish(&mut counts).len()
        },
    );

    // Streaming: one long-lived redactor, one small delta event per push;
    // every eighth event carries a PII value, whole inside that event.
    let events: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            let piece = if i % 8 == 0 {
                format!("{} ", pii_value(&mut rng, i / 8))
            } else {
                let n = 16 + rng.below(12);
                format!("{} ", benign_text(&mut rng, n))
            };
            sse_event(&piece)
        })
        .collect();
    let avg = events.iter().map(Vec::len).sum::<usize>() / events.len();
    let mut stream = r.stream(profile, StreamKind::Sse);
    let mut counts = Counts::default();
    let mut emitted = 0usize;
    for e in &events {
        emitted += stream.push(e, &mut counts).len();
    }
    // Eight events carry PII; the window may still hold the last one back.
    assert!(counts.total() >= 7, "SSE: {counts:?}");
    assert!(emitted > 0, "the SSE window emitted nothing");
    let mut i = 0usize;
    b.run(
        "stream SSE, per event",
        Some(avg),
        &format!("~{avg} B events, 1 in 8 with PII"),
        || {
            let e = &events[i % events.len()];
            i += 1;
            stream.push(black_box(e), &mut counts).len()
        },
    );
    assert!(
        stream.buffered_bytes() <= 64 * 1024,
        "the window grew to {}",
        stream.buffered_bytes()
    );
}

/// One whole request through the pure pipeline, as the shell drives it for a
/// GET on a route with nothing to check (the `tollgate-noop` bench arm):
/// request headers, response headers, end of stream. What is left of that
/// arm's cost in Envoy over an empty Wasm module is host calls and Wasm.
fn bench_pipeline(b: &mut Bench) {
    use tollgate::metrics::MemoryMetrics;
    use tollgate::pipeline::{self, response, StreamState};
    let json = serde_json::json!({
        "routes": [
            {"name": "models", "match": {"prefix": "/v1/models", "methods": ["GET"]}, "auth": "none"},
            {"name": "chat", "match": {"prefix": CHAT_PATH, "methods": ["POST"]}, "auth": "none"}
        ],
        "unmatched": "deny",
        "audit": {"enabled": false}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    let store = MemoryStore::new();
    let mut auth = AuthState::new(&config.auth);
    let mut metrics = MemoryMetrics::default();
    // What wrk sends, as the host hands it over.
    let headers: Vec<(String, String)> = [
        (":authority", "127.0.0.1:10000"),
        (":path", "/v1/models"),
        (":method", "GET"),
        (":scheme", "http"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "6f1c1f57-8f1a-4a43-9d5e-0d7c8a6e2b11"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    b.run(
        "pipeline request, routes only",
        None,
        "request headers + response headers + on_log; MemoryMetrics",
        || {
            let head = request_head("GET", "/v1/models", black_box(&headers), None, true);
            let mut env = bench_env(&mut auth, &store, &mut metrics);
            let mut stream = StreamState::default();
            let step = pipeline::stream::request_headers(&config, &mut env, &head, &mut stream);
            if response::needs_headers(&stream) {
                let _ = response::on_response_headers(&config, &mut stream, &[]);
            }
            pipeline::stream::stream_end(&mut env, &mut stream);
            let line = pipeline::on_log(&config, &mut env, &mut stream, Some(200));
            (step, line)
        },
    );
}

/// A request head for the pipeline cases (no TLS).
fn request_head<'a>(
    method: &'a str,
    path: &'a str,
    headers: &'a [(String, String)],
    peer_address: Option<&'a str>,
    end_of_stream: bool,
) -> tollgate::pipeline::RequestHead<'a> {
    tollgate::pipeline::RequestHead {
        method,
        path,
        headers,
        peer_address,
        end_of_stream,
        tls_version: None,
    }
}

/// The pipeline's environment for the pipeline cases, at [`NOW_MS`].
fn bench_env<'a>(
    auth: &'a mut AuthState,
    store: &'a MemoryStore,
    metrics: &'a mut tollgate::metrics::MemoryMetrics,
) -> tollgate::pipeline::Env<'a> {
    tollgate::pipeline::Env {
        auth,
        store,
        metrics,
        now_ms: NOW_MS,
    }
}

/// A whole screened request through the pure pipeline: the request headers
/// of a 1 KiB chat POST, its body (one parse, validation, screening, the
/// metrics), the response headers and the end of the stream. What the
/// filter's own work costs per screened request, without the host.
fn bench_pipeline_screen(b: &mut Bench) {
    use tollgate::metrics::MemoryMetrics;
    use tollgate::pipeline::{self, response, StreamState};
    let json = serde_json::json!({
        "routes": [
            {"name": "chat", "match": {"prefix": CHAT_PATH, "methods": ["POST"]}, "auth": "none"}
        ],
        "unmatched": "deny",
        "screening": {},
        "audit": {"enabled": false}
    });
    let config = Config::from_json(json.to_string().as_bytes()).unwrap();
    let store = MemoryStore::new();
    let mut auth = AuthState::new(&config.auth);
    let mut metrics = MemoryMetrics::default();
    for kb in [1usize, 64] {
        let body = chat_body(kb * 1024);
        let headers = chat_post_headers(body.len(), None);
        b.run(
            &format!("pipeline request, screen {kb} KiB chat"),
            Some(body.len()),
            "headers + body (parse, screen) + response headers; MemoryMetrics",
            || {
                let head = request_head("POST", CHAT_PATH, black_box(&headers), None, false);
                let mut env = bench_env(&mut auth, &store, &mut metrics);
                let mut stream = StreamState::default();
                let step = pipeline::stream::request_headers(&config, &mut env, &head, &mut stream);
                let mut read = |n: usize| body.get(..n).unwrap_or_default().to_vec();
                let body_step = pipeline::stream::request_body(
                    &config,
                    &mut env,
                    &mut stream,
                    body.len(),
                    true,
                    &mut read,
                );
                if response::needs_headers(&stream) {
                    let _ = response::on_response_headers(&config, &mut stream, &[]);
                }
                pipeline::stream::stream_end(&mut env, &mut stream);
                let line = pipeline::on_log(&config, &mut env, &mut stream, Some(200));
                (step, body_step, line)
            },
        );
    }
}

/// The bench's `tollgate-all` request through the pure pipeline: envoy/envoy.yaml's
/// demo policy made runnable as `make bench` does (inline ES256 key, limits
/// lifted to 1e9), a cached ES256 token, a 1 KiB chat body (screened and
/// budgeted), a 2 KiB answer with PII (redacted, usage read), and the end of
/// the stream with its audit line. What the core costs per everything-on
/// request, without the host; run the same closure in a wasm32 build under
/// node to see it in V8.
fn bench_pipeline_all(b: &mut Bench) {
    use tollgate::metrics::MemoryMetrics;
    use tollgate::pipeline::response::{self, BodyRead, BodyStep};
    use tollgate::pipeline::{self, stream, StreamState};
    if !b.wants("pipeline request, everything on") {
        return;
    }
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/envoy.yaml")).unwrap();
    let block = regex_lite::Regex::new(r"(?m)^(\s*)value: \|\n((?:[ \t]+.*\n|\s*\n)+)")
        .unwrap()
        .captures(&yaml)
        .and_then(|c| c.get(2))
        .unwrap()
        .as_str()
        .to_string();
    // The block runs on past the JSON (regex-lite has no backreference to
    // stop at the indentation): the first JSON value in it is the policy.
    let mut policy: serde_json::Value = serde_json::Deserializer::from_str(&block)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let es = signed_tokens()
        .into_iter()
        .find(|s| s.alg == "ES256")
        .unwrap();
    for provider in policy["auth"]["providers"].as_array_mut().unwrap() {
        let p = provider.as_object_mut().unwrap();
        p.remove("remote_jwks");
        p.remove("jwks");
        p.insert("issuer".into(), ISSUER.into());
        p.insert("audiences".into(), serde_json::json!([AUDIENCE]));
        p.insert("hmac".into(), serde_json::json!([]));
        p.insert("pem".into(), serde_json::json!([es.key_json.clone()]));
    }
    policy["auth"]["cache"] = serde_json::json!({"max_entries": 1024});
    for pol in policy["rate_limit"]["policies"].as_array_mut().unwrap() {
        let tiers = pol.get("tiers").cloned();
        pol["capacity"] = 1_000_000_000u64.into();
        pol["refill"]["tokens"] = 1_000_000_000u64.into();
        if let Some(mut tiers) = tiers {
            for t in tiers.as_array_mut().unwrap() {
                t["capacity"] = 1_000_000_000u64.into();
                t["refill"]["tokens"] = 1_000_000_000u64.into();
            }
            pol["tiers"] = tiers;
        }
    }
    let config = Config::from_json(policy.to_string().as_bytes()).unwrap();
    let store = MemoryStore::new();
    let mut auth = AuthState::new(&config.auth);
    let mut metrics = MemoryMetrics::default();
    let body = chat_body(1024);
    let answer = completion_json(&pii_text(&mut Rng(7), 1900, 180));
    let headers = chat_post_headers(body.len(), Some(&es.token));
    let json_type = vec![("content-type".to_string(), "application/json".to_string())];
    let mut run = || {
        let head = request_head(
            "POST",
            CHAT_PATH,
            black_box(&headers),
            Some("127.0.0.1:40000"),
            false,
        );
        let mut env = bench_env(&mut auth, &store, &mut metrics);
        let mut st = StreamState::default();
        let first = stream::request_headers(&config, &mut env, &head, &mut st);
        let sent = stream::request_body(&config, &mut env, &mut st, body.len(), true, &mut |n| {
            body[..n].to_vec()
        });
        let _ = response::on_response_headers(&config, &mut st, &json_type);
        let out = match response::body_read(&config, &st, answer.len(), true) {
            BodyRead::Skip(step) => step,
            BodyRead::Read => response::on_response_body(&config, &mut st, &answer, true),
        };
        stream::stream_end(&mut env, &mut st);
        let line = pipeline::on_log(&config, &mut env, &mut st, Some(200));
        (first, sent, out, line)
    };
    // The request must be admitted, its answer redacted, its line written.
    let (first, sent, out, line) = run();
    assert!(
        matches!(first, stream::Step::Forward(_) | stream::Step::Hold(_)),
        "{first:?}"
    );
    assert!(
        matches!(sent, stream::Step::Forward(_) | stream::Step::Resume(_)),
        "{sent:?}"
    );
    assert!(matches!(out, BodyStep::Replace(_)), "answer not redacted");
    assert!(line.is_some_and(|l| l.contains("\"redactions\"")));
    b.run(
        "pipeline request, everything on (demo policy)",
        Some(body.len() + answer.len()),
        "cached ES256, 2 limits + budget, screen 1 KiB, redact 2 KiB, audit; MemoryMetrics",
        run,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; other words filter the cases.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut b = Bench {
        timing: Timing::from_env(),
        filters,
        rows: Vec::new(),
    };
    eprintln!(
        "tollgate core micro-benchmarks (median of {} batches)",
        b.timing.batches
    );
    bench_jwt(&mut b);
    bench_rate_limit(&mut b);
    bench_screening(&mut b);
    bench_redaction(&mut b);
    bench_pipeline(&mut b);
    bench_pipeline_all(&mut b);
    bench_pipeline_screen(&mut b);
    println!();
    println!("{}", b.table());
}
