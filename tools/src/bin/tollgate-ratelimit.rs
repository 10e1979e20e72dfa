//! `tollgate-ratelimit`: a small rate-limit service for the demo cluster and
//! the end-to-end tests. It implements Envoy's RLS v3 `ShouldRateLimit` and
//! nothing more, with envoyproxy/ratelimit's semantics:
//!
//! - limits come from a config in envoyproxy/ratelimit's format (`domain`,
//!   a tree of `descriptors` with `key`, optional `value`, `rate_limit`
//!   `{unit, requests_per_unit}`, `unlimited`, `shadow_mode`), written as
//!   JSON (a JSON file is valid YAML, so envoyproxy/ratelimit reads the
//!   same file);
//! - fixed windows aligned to the Unix epoch: second, minute, hour, day,
//!   week (7 days), month (30 days), year (365 days);
//! - one Redis counter per descriptor and window, `INCRBY hits_addend` then
//!   `EXPIRE` (atomic per key), over the limit when the new count exceeds it
//!   (a refused hit is still counted, as in envoyproxy/ratelimit).
//!
//! Production points the same filter configuration at envoyproxy/ratelimit
//! or Limitador; this binary exists because neither can be installed here.
//!
//! ```text
//! tollgate-ratelimit --config envoy/cluster/ratelimit.json [--port 0] [--redis 127.0.0.1:6379]
//! ```
//! Prints `LISTENING <port>` once it accepts connections. gRPC over
//! cleartext HTTP/2 (h2c with prior knowledge), as Envoy's clusters speak it.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tollgate::rate_limit::global_proto::{
    grpc_frame, grpc_unframe, Code, DescriptorStatus, Limit, RateLimitRequest, RateLimitResponse,
    Unit,
};

const USAGE: &str =
    "usage: tollgate-ratelimit --config FILE [--port PORT] [--redis HOST:PORT] [--bind ADDR]";
const PATH: &str = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
/// Longest a Redis round trip may take before the call fails (UNAVAILABLE).
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------
// Configuration (envoyproxy/ratelimit's format)
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    domain: String,
    #[serde(default)]
    descriptors: Vec<NodeConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeConfig {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    rate_limit: Option<LimitConfig>,
    #[serde(default)]
    descriptors: Vec<NodeConfig>,
    #[serde(default)]
    shadow_mode: bool,
    #[serde(default)]
    detailed_metric: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitConfig {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    requests_per_unit: u32,
    #[serde(default)]
    unlimited: bool,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Limit {
        per_unit: u32,
        unit: Unit,
        name: String,
        shadow: bool,
    },
    Unlimited,
}

#[derive(Debug, Default)]
struct Node {
    rule: Option<Rule>,
    /// Children by `key` (any value) and by `key\0value` (exact value).
    children: HashMap<String, Node>,
}

/// Every domain's descriptor tree.
#[derive(Debug, Default)]
struct Limits {
    domains: HashMap<String, Node>,
}

fn compile_nodes(nodes: Vec<NodeConfig>, at: &str) -> Result<HashMap<String, Node>, String> {
    let mut out = HashMap::new();
    for (i, n) in nodes.into_iter().enumerate() {
        let here = format!("{at}.descriptors[{i}]");
        if n.key.is_empty() {
            return Err(format!("{here}.key: must not be empty"));
        }
        let _ = n.detailed_metric;
        let rule = match n.rate_limit {
            None => None,
            Some(l) if l.unlimited => Some(Rule::Unlimited),
            Some(l) => {
                let unit_s = l.unit.unwrap_or_default();
                let unit = Unit::parse(&unit_s)
                    .ok_or_else(|| format!("{here}.rate_limit.unit: unknown unit `{unit_s}`"))?;
                Some(Rule::Limit {
                    per_unit: l.requests_per_unit,
                    unit,
                    name: l.name.unwrap_or_default(),
                    shadow: n.shadow_mode,
                })
            }
        };
        let id = match &n.value {
            Some(v) => format!("{}\0{v}", n.key),
            None => n.key.clone(),
        };
        let node = Node {
            rule,
            children: compile_nodes(n.descriptors, &here)?,
        };
        if out.insert(id, node).is_some() {
            return Err(format!("{here}: duplicate descriptor `{}`", n.key));
        }
    }
    Ok(out)
}

impl Limits {
    fn add(&mut self, text: &str, source: &str) -> Result<(), String> {
        let cfg: FileConfig = serde_json::from_str(text).map_err(|e| format!("{source}: {e}"))?;
        if cfg.domain.is_empty() {
            return Err(format!("{source}: domain: must not be empty"));
        }
        let children = compile_nodes(cfg.descriptors, source)?;
        if self
            .domains
            .insert(
                cfg.domain.clone(),
                Node {
                    rule: None,
                    children,
                },
            )
            .is_some()
        {
            return Err(format!(
                "{source}: domain `{}` configured twice",
                cfg.domain
            ));
        }
        Ok(())
    }

    /// The rule of a descriptor: walk its entries, preferring an exact
    /// `key`+`value` node over a `key`-only one; the rule is the last
    /// entry's (envoyproxy/ratelimit's `GetLimit`).
    fn rule(&self, domain: &str, entries: &[(String, String)]) -> Option<&Rule> {
        let mut node = self.domains.get(domain)?;
        for (k, v) in entries {
            node = node
                .children
                .get(&format!("{k}\0{v}"))
                .or_else(|| node.children.get(k))?;
        }
        node.rule.as_ref()
    }
}

/// The Redis key of a descriptor in the window containing `now_s`, and the
/// window's end: `domain_k1_v1_k2_v2_<window start>` like envoyproxy/ratelimit.
fn counter_key(
    domain: &str,
    entries: &[(String, String)],
    unit: Unit,
    now_s: u64,
) -> (String, u64) {
    let len = unit.seconds().max(1);
    let start = now_s / len * len;
    let mut key = format!("{domain}_");
    for (k, v) in entries {
        key.push_str(k);
        key.push('_');
        key.push_str(v);
        key.push('_');
    }
    key.push_str(&start.to_string());
    (key, start + len)
}

/// The status of one limited descriptor after its counter reached `after`.
fn status(
    per_unit: u32,
    unit: Unit,
    name: &str,
    shadow: bool,
    after: u64,
    until_reset_s: u64,
) -> DescriptorStatus {
    let over = after > u64::from(per_unit);
    DescriptorStatus {
        code: if over && !shadow {
            Code::OverLimit
        } else {
            Code::Ok
        },
        current_limit: Some(Limit {
            name: name.to_string(),
            requests_per_unit: per_unit,
            unit,
        }),
        limit_remaining: u32::try_from(u64::from(per_unit).saturating_sub(after)).unwrap_or(0),
        until_reset_ms: Some(until_reset_s.saturating_mul(1000)),
    }
}

// ---------------------------------------------------------------------------
// Redis (RESP2, INCRBY + EXPIRE pipelined)
// ---------------------------------------------------------------------------

struct Redis {
    addr: String,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
}

fn resp_command(out: &mut Vec<u8>, args: &[&str]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
}

async fn read_line(conn: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    loop {
        let b = conn
            .read_u8()
            .await
            .map_err(|e| format!("redis read: {e}"))?;
        if b == b'\n' {
            break;
        }
        line.push(b);
        if line.len() > 4096 {
            return Err("redis reply line too long".into());
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| "redis reply is not utf-8".to_string())
}

/// One integer reply (`:n`); an error reply (`-ERR ...`) is an error.
async fn read_int(conn: &mut BufReader<TcpStream>) -> Result<i64, String> {
    let line = read_line(conn).await?;
    match line.split_at_checked(1) {
        Some((":", n)) => n.parse().map_err(|_| format!("redis: bad integer `{n}`")),
        _ => Err(format!("redis: unexpected reply `{line}`")),
    }
}

impl Redis {
    /// `INCRBY key hits` then `EXPIRE key ttl` for each key, in one round
    /// trip; the counts after incrementing.
    async fn incr(&self, keys: &[(String, u64)], hits: u64) -> Result<Vec<u64>, String> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match pooled {
            Some(c) => c,
            None => BufReader::new(
                TcpStream::connect(&self.addr)
                    .await
                    .map_err(|e| format!("redis connect {}: {e}", self.addr))?,
            ),
        };
        let mut cmd = Vec::new();
        let hits_s = hits.to_string();
        for (key, ttl) in keys {
            resp_command(&mut cmd, &["INCRBY", key, &hits_s]);
            resp_command(&mut cmd, &["EXPIRE", key, &ttl.to_string()]);
        }
        conn.get_mut()
            .write_all(&cmd)
            .await
            .map_err(|e| format!("redis write: {e}"))?;
        let mut counts = Vec::with_capacity(keys.len());
        for _ in keys {
            let n = read_int(&mut conn).await?;
            read_int(&mut conn).await?;
            counts.push(u64::try_from(n).unwrap_or(0));
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Ok(counts)
    }
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

struct Service {
    limits: Limits,
    redis: Redis,
}

impl Service {
    async fn should_rate_limit(&self, req: &RateLimitRequest) -> Result<RateLimitResponse, String> {
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let hits = u64::from(req.hits_addend.max(1));
        let mut statuses = vec![
            DescriptorStatus {
                code: Code::Ok,
                ..Default::default()
            };
            req.descriptors.len()
        ];
        // (descriptor index, rule parts, redis key, window end)
        let mut counted = Vec::new();
        let mut keys = Vec::new();
        for (i, d) in req.descriptors.iter().enumerate() {
            if let Some(Rule::Limit {
                per_unit,
                unit,
                name,
                shadow,
            }) = self.limits.rule(&req.domain, &d.entries)
            {
                let (key, end) = counter_key(&req.domain, &d.entries, *unit, now_s);
                keys.push((key, unit.seconds().max(1)));
                counted.push((i, *per_unit, *unit, name.clone(), *shadow, end));
            }
        }
        if !keys.is_empty() {
            let counts = tokio::time::timeout(REDIS_TIMEOUT, self.redis.incr(&keys, hits))
                .await
                .map_err(|_| "redis timed out".to_string())??;
            for ((i, per_unit, unit, name, shadow, end), after) in counted.into_iter().zip(counts) {
                if let Some(s) = statuses.get_mut(i) {
                    *s = status(
                        per_unit,
                        unit,
                        &name,
                        shadow,
                        after,
                        end.saturating_sub(now_s),
                    );
                }
            }
        }
        let over = statuses.iter().any(|s| s.code == Code::OverLimit);
        Ok(RateLimitResponse {
            overall_code: if over { Code::OverLimit } else { Code::Ok },
            statuses,
        })
    }
}

fn trailers(status: u32, message: &str) -> http::HeaderMap {
    let mut t = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_str(&status.to_string()) {
        t.insert("grpc-status", v);
    }
    if !message.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(message) {
            t.insert("grpc-message", v);
        }
    }
    t
}

async fn handle(
    svc: Arc<Service>,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let path_ok = req.uri().path() == PATH;
    let mut body = req.into_body();
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
        if buf.len() > 1 << 20 {
            break;
        }
    }
    let result = if !path_ok {
        Err((12, "unimplemented".to_string()))
    } else {
        match grpc_unframe(&buf).and_then(RateLimitRequest::decode) {
            Err(e) => Err((3, e.to_string())),
            Ok(r) => svc.should_rate_limit(&r).await.map_err(|e| (14, e)),
        }
    };
    let head = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap_or_default();
    let mut send = respond.send_response(head, false)?;
    match result {
        Ok(resp) => {
            send.send_data(Bytes::from(grpc_frame(&resp.encode())), false)?;
            send.send_trailers(trailers(0, ""))?;
        }
        Err((code, msg)) => {
            eprintln!("tollgate-ratelimit: {msg}");
            send.send_trailers(trailers(code, &msg))?;
        }
    }
    Ok(())
}

async fn serve_connection(svc: Arc<Service>, sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let Ok(mut conn) = h2::server::handshake(sock).await else {
        return;
    };
    while let Some(next) = conn.accept().await {
        let Ok((req, respond)) = next else {
            return;
        };
        let svc = svc.clone();
        tokio::spawn(async move {
            let _ = handle(svc, req, respond).await;
        });
    }
}

struct Args {
    configs: Vec<String>,
    port: u16,
    bind: String,
    redis: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        configs: Vec::new(),
        port: 0,
        bind: "127.0.0.1".into(),
        redis: "127.0.0.1:6379".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--config" => a.configs.push(val()?),
            "--port" => {
                a.port = val()?
                    .parse()
                    .map_err(|_| "--port: not a port".to_string())?
            }
            "--bind" => a.bind = val()?,
            "--redis" => a.redis = val()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    if a.configs.is_empty() {
        return Err(format!("--config is required\n{USAGE}"));
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut limits = Limits::default();
    for path in &args.configs {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = limits.add(&text, path) {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    let svc = Arc::new(Service {
        limits,
        redis: Redis {
            addr: args.redis,
            idle: Mutex::new(Vec::new()),
        },
    });
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match TcpListener::bind((args.bind.as_str(), args.port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bind {}:{}: {e}", args.bind, args.port);
                return ExitCode::FAILURE;
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        println!("LISTENING {port}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        loop {
            match listener.accept().await {
                Ok((sock, _)) => {
                    tokio::spawn(serve_connection(svc.clone(), sock));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        let mut l = Limits::default();
        l.add(
            r#"{"domain": "tg", "descriptors": [
                {"key": "policy", "value": "burst", "descriptors": [
                    {"key": "subject", "rate_limit": {"unit": "minute", "requests_per_unit": 10}},
                    {"key": "subject", "value": "vip", "rate_limit": {"unlimited": true}}]},
                {"key": "policy", "value": "daily", "descriptors": [
                    {"key": "tier", "value": "pro", "descriptors": [
                        {"key": "tenant", "rate_limit": {"unit": "day", "requests_per_unit": 1000000}}]},
                    {"key": "tier", "descriptors": [
                        {"key": "tenant", "rate_limit": {"unit": "week", "requests_per_unit": 5000}, "shadow_mode": true}]}]}]}"#,
            "test",
        )
        .unwrap();
        l
    }

    fn e(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_value_less_node_matches_any_value_and_an_exact_one_wins() {
        let l = limits();
        let r = l.rule("tg", &e(&[("policy", "burst"), ("subject", "alice")]));
        assert!(matches!(
            r,
            Some(Rule::Limit {
                per_unit: 10,
                unit: Unit::Minute,
                ..
            })
        ));
        assert_eq!(
            l.rule("tg", &e(&[("policy", "burst"), ("subject", "vip")])),
            Some(&Rule::Unlimited)
        );
        let r = l.rule(
            "tg",
            &e(&[("policy", "daily"), ("tier", "pro"), ("tenant", "a")]),
        );
        assert!(matches!(
            r,
            Some(Rule::Limit {
                per_unit: 1_000_000,
                unit: Unit::Day,
                ..
            })
        ));
        let r = l.rule(
            "tg",
            &e(&[("policy", "daily"), ("tier", "default"), ("tenant", "a")]),
        );
        assert!(matches!(
            r,
            Some(Rule::Limit {
                unit: Unit::Week,
                shadow: true,
                ..
            })
        ));
    }

    #[test]
    fn the_rule_is_the_last_entry_s_and_a_broken_path_has_none() {
        let l = limits();
        assert_eq!(l.rule("tg", &e(&[("policy", "burst")])), None);
        assert_eq!(l.rule("tg", &e(&[("policy", "burst"), ("ip", "1")])), None);
        assert_eq!(
            l.rule("other", &e(&[("policy", "burst"), ("subject", "a")])),
            None
        );
        assert_eq!(
            l.rule(
                "tg",
                &e(&[("policy", "burst"), ("subject", "a"), ("extra", "x")])
            ),
            None
        );
    }

    #[test]
    fn keys_name_the_window_start_and_windows_align_to_the_epoch() {
        let (k, end) = counter_key(
            "tg",
            &e(&[("policy", "burst"), ("subject", "al")]),
            Unit::Minute,
            125,
        );
        assert_eq!(k, "tg_policy_burst_subject_al_120");
        assert_eq!(end, 180);
        let (_, end) = counter_key("tg", &[], Unit::Week, 1);
        assert_eq!(end, 604_800);
    }

    #[test]
    fn over_when_the_count_passes_the_limit_and_shadow_mode_only_reports() {
        let s = status(10, Unit::Minute, "", false, 10, 5);
        assert_eq!(
            (s.code, s.limit_remaining, s.until_reset_ms),
            (Code::Ok, 0, Some(5000))
        );
        assert_eq!(
            status(10, Unit::Minute, "", false, 11, 5).code,
            Code::OverLimit
        );
        assert_eq!(status(10, Unit::Minute, "", true, 11, 5).code, Code::Ok);
    }

    #[test]
    fn bad_configs_name_the_place() {
        let mut l = Limits::default();
        let err = l
            .add(r#"{"domain":"d","descriptors":[{"key":"k","rate_limit":{"unit":"fortnight","requests_per_unit":1}}]}"#, "f")
            .unwrap_err();
        assert!(err.starts_with("f.descriptors[0].rate_limit.unit"), "{err}");
        assert!(l
            .add(
                r#"{"domain":"d","descriptors":[{"key":"k","rate":{}}]}"#,
                "f"
            )
            .is_err());
        assert!(l.add(r#"{"domain":"","descriptors":[]}"#, "f").is_err());
    }

    #[test]
    fn resp_commands_are_length_prefixed_arrays() {
        let mut out = Vec::new();
        resp_command(&mut out, &["INCRBY", "k", "5"]);
        assert_eq!(out, b"*3\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$1\r\n5\r\n");
    }
}
