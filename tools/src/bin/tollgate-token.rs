//! `tollgate-token`: mints JWTs for the demo (`make token`) and the end-to-end tests.
//!
//! ```text
//! tollgate-token --alg ES256 --key envoy/demo/keys/es256.pem --kid demo-es256 \
//!   --iss https://issuer.tollgate.test --aud tollgate-demo --sub alice --roles user,admin \
//!   --ttl 3600 [--iat-offset S] [--nbf-offset S] [--no-exp] [--claim k=v]...
//! ```
//! Times are relative to the wall clock: `iat = now + iat-offset`,
//! `exp = iat + ttl`, `nbf = now + nbf-offset` (or `iat`). For HS* the key file
//! holds the raw secret bytes; other keys are PKCS#8 PEM private keys.
//! Prints the token on stdout; errors go to stderr with exit status 2.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use jwt_simple::prelude::*;
use serde_json::{Map, Value};

const USAGE: &str =
    "usage: tollgate-token --alg ALG --key FILE [--kid KID] [--iss ISS] [--aud AUD]... \
[--sub SUB] [--roles a,b] [--ttl S] [--iat-offset S] [--nbf-offset S] [--no-exp] [--claim k=v]...";

/// Claims set by their own flags, never through `--claim`.
const REGISTERED: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat"];

#[derive(Default)]
struct Args {
    alg: String,
    key: String,
    kid: Option<String>,
    iss: Option<String>,
    aud: Vec<String>,
    sub: Option<String>,
    roles: Option<Vec<String>>,
    ttl: u64,
    iat_offset: i64,
    nbf_offset: Option<i64>,
    no_exp: bool,
    claims: Map<String, Value>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        ttl: 3600,
        ..Args::default()
    };
    while let Some(flag) = argv.next() {
        if flag == "--no-exp" {
            a.no_exp = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("{flag}: `{v}` is not an integer"))
        };
        match flag.as_str() {
            "--alg" => a.alg = value,
            "--key" => a.key = value,
            "--kid" => a.kid = Some(value),
            "--iss" => a.iss = Some(value),
            "--aud" => a.aud.push(value),
            "--sub" => a.sub = Some(value),
            "--roles" => {
                a.roles = Some(
                    value
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--ttl" => {
                a.ttl = u64::try_from(int(&value)?)
                    .map_err(|_| "--ttl must not be negative".to_string())?
            }
            "--iat-offset" => a.iat_offset = int(&value)?,
            "--nbf-offset" => a.nbf_offset = Some(int(&value)?),
            "--claim" => {
                let (k, v) = value.split_once('=').ok_or("--claim takes k=v")?;
                if REGISTERED.contains(&k) {
                    return Err(format!("--claim {k}: use the dedicated flag"));
                }
                // A JSON value when it parses as one, a string otherwise.
                let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
                a.claims.insert(k.to_string(), v);
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if a.alg.is_empty() || a.key.is_empty() {
        return Err(format!("--alg and --key are required\n{USAGE}"));
    }
    Ok(a)
}

fn at(now: u64, offset: i64) -> Result<UnixTimeStamp, String> {
    let secs = now
        .checked_add_signed(offset)
        .ok_or("time offset out of range")?;
    Ok(UnixTimeStamp::from_secs(secs))
}

fn build_claims(a: &Args, now: u64) -> Result<JWTClaims<Map<String, Value>>, String> {
    let mut custom = a.claims.clone();
    if let Some(roles) = &a.roles {
        custom.insert("roles".into(), Value::from(roles.clone()));
    }
    let mut c = Claims::with_custom_claims(custom, Duration::from_secs(a.ttl));
    let iat = at(now, a.iat_offset)?;
    c.issued_at = Some(iat);
    c.invalid_before = Some(match a.nbf_offset {
        Some(off) => at(now, off)?,
        None => iat,
    });
    c.expires_at = if a.no_exp {
        None
    } else {
        Some(iat + Duration::from_secs(a.ttl))
    };
    c.issuer = a.iss.clone();
    c.subject = a.sub.clone();
    c.audiences = match a.aud.as_slice() {
        [] => None,
        [one] => Some(Audiences::AsString(one.clone())),
        many => Some(Audiences::AsSet(many.iter().cloned().collect())),
    };
    Ok(c)
}

fn sign(a: &Args, claims: JWTClaims<Map<String, Value>>) -> Result<String, String> {
    let read_pem =
        || std::fs::read_to_string(&a.key).map_err(|e| format!("cannot read {}: {e}", a.key));
    let kid = a.kid.as_deref();
    macro_rules! hmac {
        ($t:ty) => {{
            let secret =
                std::fs::read(&a.key).map_err(|e| format!("cannot read {}: {e}", a.key))?;
            let k = <$t>::from_bytes(&secret);
            let k = if let Some(kid) = kid {
                k.with_key_id(kid)
            } else {
                k
            };
            k.authenticate(claims)
        }};
    }
    macro_rules! pair {
        ($t:ty) => {{
            let k = <$t>::from_pem(&read_pem()?)
                .map_err(|e| format!("{}: not a {} private key: {e}", a.key, a.alg))?;
            let k = if let Some(kid) = kid {
                k.with_key_id(kid)
            } else {
                k
            };
            k.sign(claims)
        }};
    }
    let token = match a.alg.as_str() {
        "HS256" => hmac!(HS256Key),
        "HS384" => hmac!(HS384Key),
        "HS512" => hmac!(HS512Key),
        "RS256" => pair!(RS256KeyPair),
        "RS384" => pair!(RS384KeyPair),
        "RS512" => pair!(RS512KeyPair),
        "PS256" => pair!(PS256KeyPair),
        "PS384" => pair!(PS384KeyPair),
        "PS512" => pair!(PS512KeyPair),
        "ES256" => pair!(ES256KeyPair),
        "ES384" => pair!(ES384KeyPair),
        "EdDSA" => pair!(Ed25519KeyPair),
        other => return Err(format!("unsupported --alg {other}")),
    };
    token.map_err(|e| format!("signing failed: {e}"))
}

fn run() -> Result<String, String> {
    let args = parse_args(std::env::args().skip(1))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the system clock is before 1970")?
        .as_secs();
    let claims = build_claims(&args, now)?;
    sign(&args, claims)
}

fn main() -> ExitCode {
    match run() {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("tollgate-token: {msg}");
            ExitCode::from(2)
        }
    }
}
