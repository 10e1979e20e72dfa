//! Specifications of the limiter as a whole, against the in-memory store.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::json;

use super::*;

const ROUTES: &[&str] = &["chat", "models"];

fn limiter(config: serde_json::Value) -> RateLimiter {
    let settings: RateLimitSettings = serde_json::from_value(config).unwrap();
    RateLimiter::compile(settings, ROUTES, "rate_limit").unwrap()
}

fn compile_err(config: serde_json::Value) -> ConfigError {
    let settings: RateLimitSettings = serde_json::from_value(config).unwrap();
    RateLimiter::compile(settings, ROUTES, "rate_limit").unwrap_err()
}

/// A request by `sub` from `peer` on `route`, with optional claims and roles.
struct Req {
    sub: Option<String>,
    peer: String,
    route: String,
    headers: Vec<(String, String)>,
    claims: serde_json::Map<String, serde_json::Value>,
    roles: Vec<String>,
}

impl Req {
    fn user(sub: &str) -> Self {
        Self {
            sub: Some(sub.into()),
            peer: "10.0.0.1:40000".into(),
            route: "chat".into(),
            headers: Vec::new(),
            claims: serde_json::Map::new(),
            roles: Vec::new(),
        }
    }

    fn anonymous(peer: &str) -> Self {
        Self {
            sub: None,
            peer: peer.into(),
            ..Self::user("-")
        }
    }

    fn facts(&self) -> RequestFacts<'_> {
        RequestFacts {
            subject: self.sub.as_deref(),
            claims: Some(&self.claims),
            roles: &self.roles,
            route: &self.route,
            peer_ip: Some(&self.peer),
            headers: &self.headers,
        }
    }
}

fn per_user(capacity: u64, tokens: u64, per_s: u64) -> serde_json::Value {
    json!({"policies":[{"name":"user","key":["subject"],"capacity":capacity,"refill":{"tokens":tokens,"per_s":per_s}}]})
}

fn admitted(o: &Outcome) -> bool {
    matches!(o, Outcome::Admitted { .. })
}

fn header<'a>(o: &'a Outcome, name: &str) -> Option<&'a str> {
    let headers = match o {
        Outcome::Admitted { headers, .. } | Outcome::Limited { headers, .. } => headers,
        Outcome::Failed { .. } => return None,
    };
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn count_admitted(l: &RateLimiter, s: &MemoryStore, req: &Req, n: usize, now: u64) -> usize {
    (0..n)
        .filter(|_| admitted(&l.check_requests(s, &req.facts(), now)))
        .count()
}

// ---- configuration ----

#[test]
fn no_policies_is_empty() {
    let l = RateLimiter::compile(RateLimitSettings::default(), ROUTES, "rate_limit").unwrap();
    assert!(l.is_empty());
    assert!(!l.has_token_budgets());
    assert_eq!(l.shared_data_bound_bytes(), 0);
    let o = l.check_requests(&MemoryStore::new(), &Req::user("a").facts(), 0);
    assert_eq!(
        o,
        Outcome::Admitted {
            headers: vec![],
            monitored: vec![]
        }
    );
}

#[test]
fn invalid_configurations_name_the_field() {
    let p = |extra: serde_json::Value| {
        let mut base =
            json!({"name":"p","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":1}});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        json!({"policies":[base]})
    };
    let cases = [
        (p(json!({"capacity":0})), "rate_limit.policies[0].capacity"),
        (
            p(json!({"refill":{"tokens":0,"per_s":1}})),
            "rate_limit.policies[0].refill.tokens",
        ),
        (
            p(json!({"refill":{"tokens":1}})),
            "rate_limit.policies[0].refill",
        ),
        (
            p(json!({"refill":{"tokens":1,"per_s":1,"per_ms":5}})),
            "rate_limit.policies[0].refill",
        ),
        (
            p(json!({"refill":{"tokens":1,"per_ms":0}})),
            "rate_limit.policies[0].refill.per_ms",
        ),
        (
            p(json!({"name":"has space"})),
            "rate_limit.policies[0].name",
        ),
        (p(json!({"name":""})), "rate_limit.policies[0].name"),
        (p(json!({"key":[]})), "rate_limit.policies[0].key"),
        (
            p(json!({"key":["ip",{"header":" "}]})),
            "rate_limit.policies[0].key[1]",
        ),
        (
            p(json!({"routes":["chat","nope"]})),
            "rate_limit.policies[0].routes[1]",
        ),
        (p(json!({"slots":0})), "rate_limit.policies[0].slots"),
        (
            p(json!({"capacity":u64::MAX})),
            "rate_limit.policies[0].capacity",
        ),
        (
            p(
                json!({"tiers":[{"when":{"claim":"plan"},"capacity":1,"refill":{"tokens":1,"per_s":1}}]}),
            ),
            "rate_limit.policies[0].tiers[0].when",
        ),
        (
            p(
                json!({"tiers":[{"when":{"role":"a"},"capacity":0,"refill":{"tokens":1,"per_s":1}}]}),
            ),
            "rate_limit.policies[0].tiers[0].capacity",
        ),
        (json!({"cas_retries":1000}), "rate_limit.cas_retries"),
        (
            json!({"client_ip":{"ipv6_prefix":0}}),
            "rate_limit.client_ip.ipv6_prefix",
        ),
        (
            json!({"default_max_tokens":0}),
            "rate_limit.default_max_tokens",
        ),
    ];
    for (config, path) in cases {
        assert_eq!(compile_err(config.clone()).path, path, "{config}");
    }
}

#[test]
fn duplicate_policy_names_are_refused() {
    let one = json!({"name":"p","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":1}});
    let err = compile_err(json!({"policies":[one, one]}));
    assert_eq!(
        err.to_string(),
        "rate_limit.policies[1].name: duplicate policy name `p`"
    );
}

// ---- request limits ----

#[test]
fn a_burst_admits_exactly_capacity_then_limits_with_retry_after() {
    let l = limiter(per_user(3, 1, 2));
    let s = MemoryStore::new();
    let alice = Req::user("alice");
    assert_eq!(count_admitted(&l, &s, &alice, 10, 1_000), 3);
    match l.check_requests(&s, &alice.facts(), 1_000) {
        Outcome::Limited {
            policy,
            retry_after_s,
            headers,
        } => {
            assert_eq!(policy, "user");
            assert_eq!(retry_after_s, 2);
            assert_eq!(
                headers[0],
                ("ratelimit-policy".into(), "\"user\";q=3;w=6".into())
            );
            assert_eq!(headers[1], ("ratelimit".into(), "\"user\";r=0;t=2".into()));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn tokens_refill_with_time() {
    let l = limiter(per_user(3, 1, 2));
    let s = MemoryStore::new();
    let alice = Req::user("alice");
    assert_eq!(count_admitted(&l, &s, &alice, 5, 0), 3);
    assert_eq!(count_admitted(&l, &s, &alice, 5, 1_999), 0);
    assert_eq!(count_admitted(&l, &s, &alice, 5, 2_000), 1);
    assert_eq!(count_admitted(&l, &s, &alice, 5, 60_000), 3);
}

#[test]
fn fractional_rate_gives_retry_after_of_the_whole_period() {
    let l = limiter(
        json!({"policies":[{"name":"slow","key":["subject"],"capacity":1,"refill":{"tokens":1,"per_s":3}}]}),
    );
    let s = MemoryStore::new();
    let a = Req::user("a");
    assert!(admitted(&l.check_requests(&s, &a.facts(), 0)));
    let o = l.check_requests(&s, &a.facts(), 500);
    assert!(
        matches!(
            o,
            Outcome::Limited {
                retry_after_s: 3,
                ..
            }
        ),
        "{o:?}"
    );
    assert!(admitted(&l.check_requests(&s, &a.facts(), 3_000)));
}

#[test]
fn users_are_counted_separately() {
    let l = limiter(per_user(2, 1, 60));
    let s = MemoryStore::new();
    assert_eq!(count_admitted(&l, &s, &Req::user("alice"), 5, 0), 2);
    assert_eq!(count_admitted(&l, &s, &Req::user("bob"), 5, 0), 2);
}

#[test]
fn admitted_responses_carry_the_remaining_quota_unless_disabled() {
    let l = limiter(per_user(5, 5, 1));
    let s = MemoryStore::new();
    let o = l.check_requests(&s, &Req::user("a").facts(), 0);
    assert_eq!(header(&o, "ratelimit-policy"), Some("\"user\";q=5;w=1"));
    assert_eq!(header(&o, "ratelimit"), Some("\"user\";r=4;t=1"));

    let mut config = per_user(1, 1, 1);
    config["emit_headers"] = json!(false);
    let quiet = limiter(config);
    let a = Req::user("a");
    assert_eq!(
        header(&quiet.check_requests(&s, &a.facts(), 0), "ratelimit"),
        None
    );
    assert!(
        header(&quiet.check_requests(&s, &a.facts(), 0), "ratelimit").is_some(),
        "429s always carry them"
    );
}

#[test]
fn a_policy_whose_key_part_is_missing_does_not_apply() {
    let l = limiter(per_user(1, 1, 60));
    let s = MemoryStore::new();
    let anon = Req::anonymous("1.2.3.4:5");
    assert_eq!(count_admitted(&l, &s, &anon, 5, 0), 5);
    assert!(s.is_empty());
}

#[test]
fn a_policy_limited_to_routes_ignores_other_routes() {
    let mut config = per_user(1, 1, 60);
    config["policies"][0]["routes"] = json!(["models"]);
    let l = limiter(config);
    let s = MemoryStore::new();
    assert_eq!(count_admitted(&l, &s, &Req::user("a"), 3, 0), 3);
    let mut on_models = Req::user("a");
    on_models.route = "models".into();
    assert_eq!(count_admitted(&l, &s, &on_models, 3, 0), 1);
}

#[test]
fn ip_policy_honours_forwarded_for_only_with_trusted_hops() {
    let ip_policy = |hops: u32| {
        limiter(json!({"client_ip":{"trusted_hops":hops},
            "policies":[{"name":"ip","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":60}}]}))
    };
    let from = |client: &str| {
        let mut r = Req::anonymous("10.0.0.254:443");
        r.headers = vec![("X-Forwarded-For".into(), format!("{client}, 192.168.0.1"))];
        r
    };
    // Default: the header is ignored, everyone behind the proxy shares one bucket.
    let (l, s) = (ip_policy(0), MemoryStore::new());
    assert!(admitted(&l.check_requests(&s, &from("1.1.1.1").facts(), 0)));
    assert!(!admitted(&l.check_requests(
        &s,
        &from("2.2.2.2").facts(),
        0
    )));
    // Two trusted hops: the second address from the right is the client.
    let (l, s) = (ip_policy(2), MemoryStore::new());
    assert!(admitted(&l.check_requests(&s, &from("1.1.1.1").facts(), 0)));
    assert!(admitted(&l.check_requests(&s, &from("2.2.2.2").facts(), 0)));
    assert!(!admitted(&l.check_requests(
        &s,
        &from("1.1.1.1").facts(),
        0
    )));
}

#[test]
fn api_keys_are_hashed_and_never_stored_raw() {
    let l = limiter(
        json!({"policies":[{"name":"k","key":[{"api_key":{"header":"X-Api-Key"}}],
        "capacity":2,"refill":{"tokens":1,"per_s":1}}]}),
    );
    let s = MemoryStore::new();
    let secret = "sk-live-0123456789abcdef";
    let mut r = Req::anonymous("1.1.1.1:1");
    r.headers = vec![("x-api-key".into(), secret.into())];
    assert_eq!(count_admitted(&l, &s, &r, 3, 0), 2);
    for k in s.keys() {
        assert!(!k.contains(secret));
        let v = s.raw(&k).unwrap();
        assert!(!v
            .windows(8)
            .any(|w| secret.as_bytes().windows(8).any(|x| x == w)));
    }
    let mut other = Req::anonymous("1.1.1.1:1");
    other.headers = vec![("x-api-key".into(), "sk-live-other".into())];
    assert_eq!(
        count_admitted(&l, &s, &other, 3, 0),
        2,
        "another key, another bucket"
    );
}

#[test]
fn tiers_pick_limits_by_claim_or_role_first_match_wins() {
    let l = limiter(
        json!({"policies":[{"name":"plan","key":["subject"],"capacity":1,"refill":{"tokens":1,"per_s":60},
        "tiers":[
            {"when":{"role":"admin"},"capacity":10,"refill":{"tokens":1,"per_s":60}},
            {"when":{"claim":"plan","equals":"pro"},"capacity":5,"refill":{"tokens":1,"per_s":60}},
            {"when":{"claim":"groups","equals":"beta"},"capacity":3,"refill":{"tokens":1,"per_s":60}}]}]}),
    );
    let s = MemoryStore::new();
    let mut pro = Req::user("pro");
    pro.claims.insert("plan".into(), json!("pro"));
    let mut admin_pro = Req::user("admin");
    admin_pro.claims.insert("plan".into(), json!("pro"));
    admin_pro.roles = vec!["admin".into()];
    let mut beta = Req::user("beta");
    beta.claims.insert("groups".into(), json!(["x", "beta"]));
    let mut free = Req::user("free");
    free.claims.insert("plan".into(), json!("free"));
    assert_eq!(count_admitted(&l, &s, &free, 20, 0), 1);
    assert_eq!(count_admitted(&l, &s, &pro, 20, 0), 5);
    assert_eq!(count_admitted(&l, &s, &admin_pro, 20, 0), 10);
    assert_eq!(count_admitted(&l, &s, &beta, 20, 0), 3);
}

#[test]
fn monitor_mode_admits_and_names_the_policy() {
    let mut config = per_user(1, 1, 60);
    config["policies"][0]["monitor"] = json!(true);
    let l = limiter(config);
    let s = MemoryStore::new();
    let a = Req::user("a");
    assert_eq!(
        l.check_requests(&s, &a.facts(), 0),
        Outcome::Admitted {
            headers: vec![],
            monitored: vec![]
        }
    );
    assert_eq!(
        l.check_requests(&s, &a.facts(), 0),
        Outcome::Admitted {
            headers: vec![],
            monitored: vec!["user".into()]
        }
    );
}

fn two_policies() -> RateLimiter {
    limiter(json!({"policies":[
        {"name":"burst","key":["subject"],"capacity":5,"refill":{"tokens":5,"per_s":1}},
        {"name":"daily","key":["subject"],"capacity":2,"refill":{"tokens":2,"per_s":86400}}]}))
}

#[test]
fn several_policies_must_all_admit_and_a_refusal_spends_nothing() {
    let l = two_policies();
    let s = MemoryStore::new();
    let a = Req::user("a");
    let first = l.check_requests(&s, &a.facts(), 0);
    assert_eq!(
        header(&first, "ratelimit"),
        Some("\"burst\";r=4;t=1, \"daily\";r=1;t=43200")
    );
    assert_eq!(count_admitted(&l, &s, &a, 5, 0), 1);
    match l.check_requests(&s, &a.facts(), 0) {
        Outcome::Limited { policy, .. } => assert_eq!(policy, "daily"),
        other => panic!("{other:?}"),
    }
    // Six refused requests later, the burst bucket still holds its 3 tokens.
    let burst = &l.policies[0];
    let fp = key::fingerprint(&burst.key, &a.facts(), &l.client_ip).unwrap();
    let rate = burst.rate;
    let (_, res) = burst
        .table
        .update(&s, fp, &rate, 0, 1, &mut |b| {
            Err::<Bucket, _>(b.remaining(&rate))
        })
        .unwrap();
    assert_eq!(res, Err(3));
}

#[test]
fn a_failure_in_a_later_policy_refunds_the_earlier_one() {
    let l = two_policies();
    let s = MemoryStore::new();
    let a = Req::user("a");
    assert!(admitted(&l.check_requests(&s, &a.facts(), 0))); // burst 4, daily 1
    let daily_key = s
        .keys()
        .into_iter()
        .find(|k| k.contains(":daily:"))
        .unwrap();
    s.put_raw(&daily_key, b"\x01broken");
    assert_eq!(
        l.check_requests(&s, &a.facts(), 0),
        Outcome::Failed {
            kind: "corrupt_state"
        }
    );
    let burst_key = s
        .keys()
        .into_iter()
        .find(|k| k.contains(":burst:"))
        .unwrap();
    let b = Bucket::decode(&s.raw(&burst_key).unwrap()).unwrap();
    assert_eq!(b.remaining(&l.policies[0].rate), 4);
}

// ---- shared data misbehaving ----

#[test]
fn exhausted_cas_retries_fail_with_cas_exhausted() {
    let mut config = per_user(5, 1, 1);
    config["cas_retries"] = json!(2);
    let l = limiter(config);
    let s = MemoryStore::new();
    s.fail_next_sets(3);
    assert_eq!(
        l.check_requests(&s, &Req::user("a").facts(), 0),
        Outcome::Failed {
            kind: "cas_exhausted"
        }
    );
    s.fail_next_sets(2);
    assert!(
        admitted(&l.check_requests(&s, &Req::user("a").facts(), 0)),
        "two retries suffice"
    );
}

#[test]
fn a_corrupt_slot_fails_with_corrupt_state() {
    let mut config = per_user(5, 1, 1);
    config["policies"][0]["slots"] = json!(1);
    let l = limiter(config);
    let s = MemoryStore::new();
    s.put_raw("tg:rl:v1:user:0", &[1, 2, 3]);
    assert_eq!(
        l.check_requests(&s, &Req::user("a").facts(), 0),
        Outcome::Failed {
            kind: "corrupt_state"
        }
    );
}

#[test]
fn a_host_error_fails_with_store_error() {
    let l = limiter(per_user(5, 1, 1));
    let s = MemoryStore::new();
    s.fail_everything(true);
    assert_eq!(
        l.check_requests(&s, &Req::user("a").facts(), 0),
        Outcome::Failed {
            kind: "store_error"
        }
    );
    assert_eq!(l.fail_mode(), FailMode::Closed);
}

#[test]
fn interleaved_workers_admit_exactly_the_capacity() {
    // Before each of our writes, "another worker" runs a whole check on the
    // same store: every one of our writes loses its first race.
    let l = Rc::new(limiter(per_user(10, 1, 3600)));
    let s = MemoryStore::new();
    let other_admitted = Rc::new(Cell::new(0));
    let mut ours = 0;
    for _ in 0..20 {
        let (l2, count) = (Rc::clone(&l), Rc::clone(&other_admitted));
        s.before_next_set(move |st| {
            if admitted(&l2.check_requests(st, &Req::user("a").facts(), 0)) {
                count.set(count.get() + 1);
            }
        });
        if admitted(&l.check_requests(&s, &Req::user("a").facts(), 0)) {
            ours += 1;
        }
    }
    assert_eq!(
        ours + other_admitted.get(),
        10,
        "no token lost, none spent twice"
    );
    assert!(
        ours > 0 && other_admitted.get() > 0,
        "both workers were admitted sometimes"
    );
}

// ---- bounded memory ----

#[test]
fn a_hundred_thousand_ips_never_grow_shared_data_past_the_bound() {
    let l = limiter(json!({"policies":[
        {"name":"ip","key":["ip"],"capacity":5,"refill":{"tokens":1,"per_s":10},"slots":1024},
        {"name":"ip_route","key":["ip","route"],"capacity":5,"refill":{"tokens":1,"per_s":10},"slots":512}]}));
    let s = MemoryStore::new();
    for i in 0u32..100_000 {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
        let r = Req::anonymous(&format!("{ip}:1234"));
        assert!(!matches!(
            l.check_requests(&s, &r.facts(), u64::from(i)),
            Outcome::Failed { .. }
        ));
    }
    let keys = s.keys();
    assert!(
        keys.iter()
            .filter(|k| k.starts_with("tg:rl:v1:ip:"))
            .count()
            <= 1024
    );
    assert!(
        keys.iter()
            .filter(|k| k.starts_with("tg:rl:v1:ip_route:"))
            .count()
            <= 512
    );
    assert_eq!(keys.len(), 1024 + 512, "every slot used, none beyond");
    assert!(s.payload_bytes() <= l.shared_data_bound_bytes());
}

#[test]
fn the_bound_is_slots_times_key_and_value_size() {
    let l = limiter(per_user(1, 1, 1));
    // "tg:rl:v1:user:" (14) + up to 5 digits, 41-byte values, 65536 slots.
    assert_eq!(l.shared_data_bound_bytes(), 65_536 * (14 + 5 + 41));
}

// ---- LLM-token budgets ----

fn budget(capacity: u64) -> RateLimiter {
    limiter(
        json!({"policies":[{"name":"tokens","kind":"llm_tokens","key":["subject"],
        "capacity":capacity,"refill":{"tokens":capacity,"per_s":3600}}]}),
    )
}

fn budget_left(l: &RateLimiter, s: &MemoryStore, who: &Req, now: u64) -> u64 {
    let p = &l.policies[0];
    let fp = key::fingerprint(&p.key, &who.facts(), &l.client_ip).unwrap();
    let rate = p.rate;
    let (_, res) = p
        .table
        .update(s, fp, &rate, now, 1, &mut |b| {
            Err::<Bucket, _>(b.refilled(&rate, now).remaining(&rate))
        })
        .unwrap();
    res.unwrap_err()
}

#[test]
fn request_policies_and_token_budgets_do_not_mix() {
    let l = budget(100);
    assert!(l.has_token_budgets());
    let s = MemoryStore::new();
    assert_eq!(count_admitted(&l, &s, &Req::user("a"), 3, 0), 3);
    assert!(s.is_empty());
}

#[test]
fn reservation_takes_the_estimate_and_settlement_refunds_the_unused_part() {
    let l = budget(1000);
    let s = MemoryStore::new();
    let a = Req::user("a");
    let r = l.reserve_tokens(&s, &a.facts(), 300, 0).unwrap();
    assert_eq!(r.reservations.len(), 1);
    assert_eq!(r.reservations[0].amount, 300);
    assert!(r.headers[0].1.contains("qu=\"tokens\""));
    assert_eq!(budget_left(&l, &s, &a, 0), 700);
    l.settle(&s, &r.reservations, 120, 0).unwrap();
    assert_eq!(budget_left(&l, &s, &a, 0), 880);
}

#[test]
fn usage_beyond_the_reservation_is_charged_into_debt_that_is_repaid_in_full() {
    let l = budget(1000);
    let s = MemoryStore::new();
    let a = Req::user("a");
    let r = l.reserve_tokens(&s, &a.facts(), 100, 0).unwrap();
    l.settle(&s, &r.reservations, 600, 0).unwrap();
    assert_eq!(budget_left(&l, &s, &a, 0), 400);
    let r = l.reserve_tokens(&s, &a.facts(), 100, 0).unwrap();
    l.settle(&s, &r.reservations, 5000, 0).unwrap();
    assert!(l.reserve_tokens(&s, &a.facts(), 1, 0).is_err(), "in debt");
    // 300 left after the second reservation, then 4900 over it: 4600 in
    // debt, 4.6 refills (1000 an hour) to repay. Nothing is forgiven after
    // the first hour.
    assert_eq!(budget_left(&l, &s, &a, 3_600_000), 0);
    assert_eq!(budget_left(&l, &s, &a, 4 * 3_600_000), 0);
    assert_eq!(budget_left(&l, &s, &a, 5 * 3_600_000), 400);
    assert_eq!(budget_left(&l, &s, &a, 6 * 3_600_000), 1000);
}

#[test]
fn a_reservation_that_does_not_fit_is_limited_and_takes_nothing() {
    let l = budget(1000);
    let s = MemoryStore::new();
    let a = Req::user("a");
    let _ = l.reserve_tokens(&s, &a.facts(), 900, 0).unwrap();
    match l.reserve_tokens(&s, &a.facts(), 200, 0) {
        Err(Outcome::Limited {
            policy,
            retry_after_s,
            ..
        }) => {
            assert_eq!(policy, "tokens");
            assert_eq!(retry_after_s, 360, "100 tokens at 1000 per hour");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(budget_left(&l, &s, &a, 0), 100);
    assert!(
        matches!(
            l.reserve_tokens(&s, &a.facts(), 5000, 0),
            Err(Outcome::Limited { .. })
        ),
        "larger than capacity"
    );
}

#[test]
fn several_budgets_reserve_all_or_nothing() {
    let l = limiter(json!({"policies":[
        {"name":"user_tokens","kind":"llm_tokens","key":["subject"],"capacity":1000,"refill":{"tokens":1000,"per_s":60}},
        {"name":"tenant_tokens","kind":"llm_tokens","key":[{"claim":"tenant"}],"capacity":150,"refill":{"tokens":150,"per_s":60}}]}));
    let s = MemoryStore::new();
    let mut a = Req::user("a");
    a.claims.insert("tenant".into(), json!("acme"));
    let r = l.reserve_tokens(&s, &a.facts(), 100, 0).unwrap();
    assert_eq!(r.reservations.len(), 2);
    assert!(matches!(
        l.reserve_tokens(&s, &a.facts(), 100, 0),
        Err(Outcome::Limited { .. })
    ));
    assert_eq!(
        budget_left(&l, &s, &a, 0),
        900,
        "the user budget got its 100 back"
    );
}

#[test]
fn monitored_budget_still_settles_real_usage() {
    let l = limiter(
        json!({"policies":[{"name":"t","kind":"llm_tokens","key":["subject"],"monitor":true,
        "capacity":100,"refill":{"tokens":100,"per_s":3600}}]}),
    );
    let s = MemoryStore::new();
    let a = Req::user("a");
    let r = l.reserve_tokens(&s, &a.facts(), 500, 0).unwrap();
    assert_eq!(r.monitored, vec!["t".to_string()]);
    assert_eq!(r.reservations[0].amount, 0);
    l.settle(&s, &r.reservations, 60, 0).unwrap();
    assert_eq!(budget_left(&l, &s, &a, 0), 40);
}

#[test]
fn settling_an_unknown_policy_reports_it() {
    let l = budget(10);
    let bogus = Reservation {
        policy: 7,
        tier: None,
        slot: 0,
        owner: 1,
        amount: 1,
        price: None,
        prompt_estimate: 0,
    };
    assert_eq!(
        l.settle(&MemoryStore::new(), &[bogus], 5, 0),
        Err("unknown_policy")
    );
}

#[test]
fn estimate_uses_the_configured_default_max_tokens() {
    let l = limiter(json!({"default_max_tokens": 1000}));
    let e = l.estimate_request(&json!({"messages":[{"role":"user","content":"abcdefgh"}]}));
    assert_eq!(
        e,
        Estimate {
            prompt: 2,
            output: 1000,
            ..Default::default()
        }
    );
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(RateLimitError::Limited.code(), "rate_limited");
    assert_eq!(RateLimitError::Unavailable.code(), "rate_limit_unavailable");
    assert_eq!(
        RateLimitError::TokenBudgetExceeded.code(),
        "token_budget_exceeded"
    );
    assert_eq!(RateLimitError::Limited.status(), 429);
    assert_eq!(RateLimitError::Unavailable.status(), 503);
}

#[test]
fn a_refund_that_loses_a_race_is_retried_and_loses_nobody_s_token() {
    let l = two_policies();
    // Another worker whose only policy is the same `burst` bucket.
    let other = Rc::new(limiter(json!({"policies":[
        {"name":"burst","key":["subject"],"capacity":5,"refill":{"tokens":5,"per_s":1}}]})));
    let s = MemoryStore::new();
    let a = Req::user("a");
    assert_eq!(count_admitted(&l, &s, &a, 2, 0), 2); // burst 3, daily 0
                                                     // Our third request: burst take (set 1), daily refuses, burst refund
                                                     // (set 2). The other worker takes from burst just before set 2.
    s.before_next_set(|_| {});
    let o = Rc::clone(&other);
    s.before_next_set(move |st| {
        assert!(admitted(&o.check_requests(st, &Req::user("a").facts(), 0)))
    });
    assert!(matches!(
        l.check_requests(&s, &a.facts(), 0),
        Outcome::Limited { .. }
    ));
    let burst_key = s
        .keys()
        .into_iter()
        .find(|k| k.contains(":burst:"))
        .unwrap();
    let b = Bucket::decode(&s.raw(&burst_key).unwrap()).unwrap();
    assert_eq!(
        b.remaining(&l.policies[0].rate),
        2,
        "5 - our 2 admitted - the other worker's 1"
    );
}

// ---- tokens without a subject (issue 11, F13) ----

fn no_sub() -> Req {
    Req {
        sub: None,
        ..Req::user("-")
    }
}

#[test]
fn a_token_without_sub_is_refused_on_a_per_subject_route_by_default() {
    let l = limiter(per_user(10, 1, 1));
    assert_eq!(
        l.check_subject(&no_sub().facts()),
        Err(RateLimitError::MissingSubject)
    );
    assert_eq!(RateLimitError::MissingSubject.code(), "jwt_missing_claim");
    assert_eq!(RateLimitError::MissingSubject.status(), 401);
    assert_eq!(l.check_subject(&Req::user("a").facts()), Ok(()));
}

#[test]
fn anonymous_requests_and_routes_without_subject_policies_are_not_concerned() {
    let l = limiter(json!({"policies":[
        {"name":"u","key":["subject"],"routes":["chat"],"capacity":1,"refill":{"tokens":1,"per_s":1}},
        {"name":"ip","key":["ip"],"capacity":1,"refill":{"tokens":1,"per_s":1}}]}));
    let mut models = no_sub();
    models.route = "models".into();
    assert_eq!(l.check_subject(&models.facts()), Ok(()));
    let anon = no_sub();
    let facts = RequestFacts {
        claims: None,
        ..anon.facts()
    };
    assert_eq!(l.check_subject(&facts), Ok(()));
}

#[test]
fn a_token_without_sub_is_refused_on_a_route_with_a_global_per_subject_policy() {
    // No local pre-limit (no capacity): only the service counts this policy,
    // and a descriptor without a subject would leave the token uncounted.
    let l = limiter(json!({
        "global": {"cluster": "rls"},
        "policies": [{"name": "g", "backend": "global", "key": ["subject"]}]}));
    assert_eq!(
        l.check_subject(&no_sub().facts()),
        Err(RateLimitError::MissingSubject)
    );
    assert_eq!(l.check_subject(&Req::user("a").facts()), Ok(()));
}

#[test]
fn missing_subject_skip_keeps_the_old_fail_open_behaviour() {
    let mut cfg = per_user(1, 1, 3600);
    cfg["missing_subject"] = json!("skip");
    let l = limiter(cfg);
    let s = MemoryStore::new();
    assert_eq!(l.check_subject(&no_sub().facts()), Ok(()));
    assert_eq!(count_admitted(&l, &s, &no_sub(), 5, 0), 5);
}

#[test]
fn a_fallback_claim_counts_subjectless_tokens_apart_from_real_subjects() {
    let mut cfg = per_user(2, 1, 3600);
    cfg["subject_fallback_claim"] = json!("client_id");
    let l = limiter(cfg);
    let s = MemoryStore::new();
    let mut svc = no_sub();
    svc.claims.insert("client_id".into(), json!("batch-job"));
    assert_eq!(l.check_subject(&svc.facts()), Ok(()));
    assert_eq!(
        count_admitted(&l, &s, &svc, 5, 0),
        2,
        "counted by client_id"
    );
    // A user whose sub is the same text has a bucket of its own.
    assert_eq!(count_admitted(&l, &s, &Req::user("batch-job"), 5, 0), 2);
    // Without the claim either, the token is refused.
    assert_eq!(
        l.check_subject(&no_sub().facts()),
        Err(RateLimitError::MissingSubject)
    );
}

// ---- one request cannot overshoot a budget (issue 11, F9) ----

fn capped_budget(capacity: u64, model_max: u64, mode: &str) -> RateLimiter {
    limiter(json!({
        "policies":[{"name":"tokens","kind":"llm_tokens","key":["subject"],
            "capacity":capacity,"refill":{"tokens":capacity,"per_s":86400}}],
        "models":[{"model":"m*","max_output_tokens":model_max}],
        "missing_max_tokens": mode}))
}

#[test]
fn a_request_without_max_tokens_reserves_the_models_maximum() {
    let l = capped_budget(100_000, 4096, "reserve");
    let body = json!({"model":"m-large","messages":[{"role":"user","content":"abcd"}]});
    assert_eq!(l.estimate_request(&body).output, 4096);
    let named = json!({"model":"m-large","max_tokens":10,"messages":[]});
    assert_eq!(l.estimate_request(&named).output, 10, "a named limit wins");
    let other = json!({"model":"other","messages":[]});
    assert_eq!(l.estimate_request(&other).output, 256, "default_max_tokens");
    assert_eq!(
        l.cap_request("/v1/chat/completions", b"{}", &body),
        None,
        "reserve mode keeps the body"
    );
    assert!(!l.may_cap_requests("chat"));
}

#[test]
fn inject_mode_writes_the_reserved_limit_into_the_request() {
    let l = capped_budget(100_000, 150, "inject");
    assert!(l.may_cap_requests("chat"));
    let raw = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let body: serde_json::Value = serde_json::from_slice(raw).unwrap();
    let out = l.cap_request("/v1/chat/completions", raw, &body).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["max_completion_tokens"], 150);
    assert_eq!(
        l.estimate_request(&body).output,
        150,
        "what is injected is what is reserved"
    );
    let out = l.cap_request("/v1/messages", raw, &body).unwrap();
    assert!(out.starts_with(br#"{"max_tokens":150,"#));
    assert_eq!(l.cap_request("/v1/embeddings", raw, &body), None);
}

/// Twelve requests in flight at once against a 2,000-token budget, each
/// without `max_tokens`, each from an upstream that would write 60,000
/// tokens if let. With the limit injected the upstream stops at 150, so
/// every admitted request costs at most its reservation: the total
/// charged stays within the budget plus the error of the prompt estimate
/// (here the estimate is exact, so within the budget).
#[test]
fn a_concurrent_burst_is_charged_within_the_budget() {
    let l = capped_budget(2000, 150, "inject");
    let s = MemoryStore::new();
    let a = Req::user("burst");
    let prompt = "x".repeat(40); // 10 tokens, estimated exactly
    let raw =
        serde_json::to_vec(&json!({"model":"m","messages":[{"role":"user","content":prompt}]}))
            .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let estimate = l.estimate_request(&body);
    // Every request reserves before any settles (all in flight together).
    let mut admitted = Vec::new();
    for _ in 0..12 {
        if let Ok(r) = l.reserve_tokens(&s, &a.facts(), estimate.total(), 0) {
            let sent = l.cap_request("/v1/chat/completions", &raw, &body).unwrap();
            let cap = serde_json::from_slice::<serde_json::Value>(&sent).unwrap()
                ["max_completion_tokens"]
                .as_u64()
                .unwrap();
            admitted.push((r, cap));
        }
    }
    assert_eq!(admitted.len(), 12, "12 × 160 = 1,920 fits in 2,000");
    let upstream_would_write = 60_000u64;
    let mut charged = 0;
    for (r, cap) in &admitted {
        let actual = estimate.prompt + upstream_would_write.min(*cap);
        charged += actual;
        l.settle(&s, &r.reservations, actual, 1).unwrap();
    }
    assert!(charged <= 2000, "charged {charged}");
    // The same burst with reserve-only against an upstream that overruns:
    // the excess is charged as debt and paid back before anything else.
    let l = capped_budget(2000, 150, "reserve");
    let s = MemoryStore::new();
    let mut admitted = Vec::new();
    for _ in 0..12 {
        if let Ok(r) = l.reserve_tokens(&s, &a.facts(), estimate.total(), 0) {
            admitted.push(r);
        }
    }
    for r in &admitted {
        l.settle(
            &s,
            &r.reservations,
            estimate.prompt + upstream_would_write,
            1,
        )
        .unwrap();
    }
    // 12 × 60,010 = 720,120 charged against 2,000 a day: nothing more is
    // admitted for 360 days' worth of refill, capped at 30 (see bucket.rs).
    assert!(l
        .reserve_tokens(&s, &a.facts(), 1, 29 * 86_400_000)
        .is_err());
    assert!(l.reserve_tokens(&s, &a.facts(), 1, 32 * 86_400_000).is_ok());
}

// ---- the per-IP pre-authentication limit (issue 16, item 4) ----

#[test]
fn pre_auth_limits_signature_checks_per_address_with_its_own_fail_mode() {
    let l = limiter(json!({"pre_auth": {"capacity": 2, "refill": {"tokens": 1, "per_s": 60}}}));
    assert!(l.is_empty(), "not a request policy");
    let s = MemoryStore::new();
    let a = Req::anonymous("10.0.0.9:1");
    let b = Req::anonymous("10.0.0.10:1");
    assert_eq!(l.check_pre_auth(&s, &a.facts(), 0), None);
    assert_eq!(l.check_pre_auth(&s, &a.facts(), 0), None);
    assert!(matches!(
        l.check_pre_auth(&s, &a.facts(), 0),
        Some(Outcome::Limited { ref policy, .. }) if policy == "pre_auth"
    ));
    assert_eq!(l.check_pre_auth(&s, &b.facts(), 0), None, "another address");
    assert_eq!(l.check_pre_auth(&s, &a.facts(), 60_000), None, "refilled");
    // Shared data failing: open by default, closed when asked.
    let failing = MemoryStore::new();
    failing.fail_everything(true);
    assert_eq!(l.check_pre_auth(&failing, &a.facts(), 0), None);
    let closed = limiter(
        json!({"pre_auth": {"capacity": 2, "refill": {"tokens": 1, "per_s": 60}, "fail_mode": "closed"}}),
    );
    assert!(matches!(
        closed.check_pre_auth(&failing, &a.facts(), 0),
        Some(Outcome::Failed { .. })
    ));
    assert_eq!(
        compile_err(json!({"pre_auth": {"capacity": 0, "refill": {"tokens": 1, "per_s": 60}}}))
            .path,
        "rate_limit.pre_auth.capacity"
    );
}

// ---- money budgets (issue 18, item 4) ----

fn money(capacity_micros: u64) -> RateLimiter {
    limiter(json!({
        "policies":[{"name":"spend","kind":"cost","currency":"usd","key":["subject"],
            "capacity":capacity_micros,"refill":{"tokens":capacity_micros,"per_s":86400}}],
        "models":[
            {"model":"cheap","price":{"input_per_million":1.0,"output_per_million":2.0}},
            {"model":"dear","price":{"input_per_million":10.0,"output_per_million":40.0,"cached_input_per_million":5.0}}]}))
}

#[test]
fn a_money_budget_reserves_the_estimated_price_and_settles_the_real_one() {
    let l = money(1_000_000); // 1 USD a day
    let s = MemoryStore::new();
    let a = Req::user("spender");
    let body = json!({"model":"dear","max_tokens":1000,"messages":[{"role":"user","content":"x".repeat(4000)}]});
    let e = l.estimate_request(&body);
    // 1000 prompt tokens at 10/M + 1000 output at 40/M = 0.05 USD.
    let r = l.reserve(&s, &a.facts(), e, 0).unwrap();
    assert_eq!(r.reservations[0].amount, 50_000);
    let policy = r
        .headers
        .iter()
        .find(|(n, _)| n == "ratelimit-policy")
        .unwrap();
    assert!(policy.1.contains("qu=\"usd-micros\""), "{policy:?}");
    let state = r.headers.iter().find(|(n, _)| n == "ratelimit").unwrap();
    assert!(state.1.contains("r=950000"), "{state:?}");
    // Real usage: 1000 in (400 cached), 200 out: 6000 + 2000 + 8000 micro-units.
    let usage = Usage {
        prompt: 1000,
        completion: 200,
        total: 1200,
        cached_prompt: 400,
    };
    assert_eq!(l.cost_micros(&r.reservations, &usage), Some(16_000));
    l.settle_usage(&s, &r.reservations, &usage, 0).unwrap();
    let next = l.reserve(&s, &a.facts(), e, 0).unwrap();
    let state = next.headers.iter().find(|(n, _)| n == "ratelimit").unwrap();
    assert!(
        state.1.contains("r=934000"),
        "1,000,000 - 16,000 - 50,000: {state:?}"
    );
}

#[test]
fn a_spender_crossing_the_money_budget_is_refused_and_unpriced_models_are_not_free() {
    let l = money(100_000); // 0.10 USD
    let s = MemoryStore::new();
    let a = Req::user("spender");
    let cheap = l.estimate_request(&json!({"model":"cheap","max_tokens":10000,"messages":[]}));
    assert_eq!(cheap.price.unwrap().output_nanos, 2000);
    // 10,000 output tokens at 2/M: 20,000 micro-units each; 5 fit, the 6th not.
    let admitted = (0..6)
        .filter(|_| l.reserve(&s, &a.facts(), cheap, 0).is_ok())
        .count();
    assert_eq!(admitted, 5);
    let unknown = l.estimate_request(&json!({"model":"brand-new","messages":[]}));
    assert_eq!(
        unknown.price.unwrap().output_nanos,
        40_000,
        "charged the highest price"
    );
}

#[test]
fn cost_policies_need_a_currency_and_prices() {
    let no_currency = compile_err(
        json!({"policies":[{"name":"c","kind":"cost","key":["subject"],"capacity":1,"refill":{"tokens":1,"per_s":1}}],
        "models":[{"model":"m","price":{"input_per_million":1,"output_per_million":1}}]}),
    );
    assert_eq!(no_currency.path, "rate_limit.policies[0].currency");
    let no_prices = compile_err(
        json!({"policies":[{"name":"c","kind":"cost","currency":"EUR","key":["subject"],"capacity":1,"refill":{"tokens":1,"per_s":1}}]}),
    );
    assert_eq!(no_prices.path, "rate_limit.policies[0].kind");
    let stray = compile_err(
        json!({"policies":[{"name":"c","currency":"EUR","key":["subject"],"capacity":1,"refill":{"tokens":1,"per_s":1}}]}),
    );
    assert_eq!(stray.path, "rate_limit.policies[0].currency");
}
