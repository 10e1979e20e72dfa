#!/usr/bin/env python3
"""Tollgate benchmarks: the same load through several Envoy configurations ("arms").

Run through `make bench`, which builds what this needs and passes the paths.
Python 3 standard library only; needs `wrk`, `taskset` and `openssl` on PATH.

    python3 benches/harness/run.py --envoy .venv/bin/envoy \
        --wasm target/wasm32-wasip1/release/tollgate.wasm \
        --empty-wasm <empty_filter.wasm> [--token-bin <tollgate-token>] [--list]

Environment (empty means unset):
    BENCH_QUICK=1        1 round, 1 s warm-up, 2 s per arm (a smoke run, noisy)
    BENCH_DURATION=10    measured seconds per arm and round
    BENCH_WARMUP=2       warm-up seconds before each measurement
    BENCH_ROUNDS=3       rounds; every round runs every arm once (interleaved)
    BENCH_CONNECTIONS=16 wrk connections (one wrk thread)
    BENCH_TOKENS=2000    distinct tokens for the "many" JWT arms (cache holds 1024)
    BENCH_ARMS=regex     only arms whose name matches (re.search); the plain
                         arm of each selected workload is always added
    BENCH_OUT=target/bench

Method. Each arm is an Envoy started from templates/proxy.yaml with that arm's
HTTP filters, `--concurrency 1`, pinned to core 0; the upstream (a second
Envoy answering with `direct_response`, templates/upstream.yaml) and wrk share
core 1. Each round starts every arm afresh, warms it up, then measures; the
arms are interleaved over the rounds (odd rounds run in reverse order) so
drift on a shared machine spreads over all arms. Per arm we report the median
over rounds of: throughput, wrk's p50/p99 latency, Envoy CPU time per request
(utime+stime of the Envoy process from /proc, measured window only) and RSS.
An arm whose configuration Envoy refuses (for example a Tollgate section the
current build does not know yet) is skipped with the reason, not failed.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
REPO = HERE.parent.parent

ISSUER = "https://issuer.tollgate.test"
AUDIENCE = "tollgate-demo"
ALGS = ("HS256", "ES256", "RS256")
KIDS = {"HS256": "demo-hs256", "ES256": "demo-es256", "RS256": "demo-rs256"}
KEY_FILES = {"HS256": "hs256.key", "ES256": "es256.pem", "RS256": "rs256.pem"}
# Tollgate's verified-token cache size in the cached arms, and Envoy's jwt_cache_size.
CACHE_ENTRIES = 1024
# A value every PII-carrying response contains verbatim, and no redacted one does.
SENTINEL = "pii.sentinel@example.com"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Lifetime of minted tokens; a set of many tokens is reused while an hour of it is left.
MANY_TTL_S = 4 * 3600


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def env_num(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        sys.exit(f"error: {name}={raw!r} is not a number")


# --------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


def render(text: str, values: dict[str, str]) -> str:
    """Fills {{NAME}} placeholders outside comment lines. A placeholder alone on
    its line takes a multi-line value indented like the placeholder (YAML lists,
    JSON blocks)."""

    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            out.append(line)  # comments may name placeholders; never fill them
            continue
        alone = re.fullmatch(r"(\s*)\{\{([A-Z0-9_]+)\}\}\s*", line)
        if alone:
            indent, name = alone.groups()
            if name not in values:
                raise KeyError(f"template value {name} missing")
            for sub in str(values[name]).splitlines():
                out.append(indent + sub if sub.strip() else "")
            continue

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                raise KeyError(f"template value {m.group(1)} missing")
            return str(values[m.group(1)])

        out.append(PLACEHOLDER.sub(one, line))
    return "\n".join(out) + "\n"


def template(rel: str) -> str:
    return (TEMPLATES / rel).read_text()


# --------------------------------------------------------------------------
# Keys and tokens
# --------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def openssl(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(
        ["openssl", *args], input=stdin, check=True, capture_output=True
    ).stdout


@dataclass
class KeySet:
    """Signing keys (private), their public halves and the JWKS Envoy's jwt_authn needs."""

    dir: Path
    source: str
    hs_secret: bytes = b""
    public_pem: dict[str, str] = field(default_factory=dict)
    jwk: dict[str, dict] = field(default_factory=dict)

    def path(self, alg: str) -> Path:
        return self.dir / KEY_FILES[alg]


def load_keys(out: Path) -> KeySet:
    demo = REPO / "envoy" / "demo" / "keys"
    if all((demo / f).is_file() for f in KEY_FILES.values()):
        keys = KeySet(dir=demo, source="envoy/demo/keys (test-only demo keys)")
    else:
        gen = out / "keys"
        gen.mkdir(parents=True, exist_ok=True)
        if not (gen / "hs256.key").exists():
            (gen / "hs256.key").write_bytes(os.urandom(24).hex().encode())
        if not (gen / "es256.pem").exists():
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(gen / "es256.pem"))
        if not (gen / "rs256.pem").exists():
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(gen / "rs256.pem"))
        keys = KeySet(dir=gen, source=f"{gen} (generated with openssl: envoy/demo/keys absent)")
    keys.hs_secret = keys.path("HS256").read_bytes()
    keys.jwk["HS256"] = {"kty": "oct", "kid": KIDS["HS256"], "alg": "HS256",
                         "k": b64url(keys.hs_secret)}
    for alg in ("ES256", "RS256"):
        keys.public_pem[alg] = openssl("pkey", "-in", str(keys.path(alg)), "-pubout").decode()
        der = openssl("pkey", "-in", str(keys.path(alg)), "-pubout", "-outform", "DER")
        if alg == "ES256":
            point = der[-65:]
            if point[0] != 4:
                raise RuntimeError("unexpected EC public key encoding")
            keys.jwk[alg] = {"kty": "EC", "crv": "P-256", "kid": KIDS[alg], "alg": alg,
                             "use": "sig", "x": b64url(point[1:33]), "y": b64url(point[33:])}
        else:
            text = openssl("pkey", "-pubin", "-in", "/dev/stdin", "-noout", "-text",
                           stdin=keys.public_pem[alg].encode()).decode()
            modulus = openssl("rsa", "-pubin", "-in", "/dev/stdin", "-noout", "-modulus",
                              stdin=keys.public_pem[alg].encode()).decode()
            n = bytes.fromhex(modulus.strip().split("=", 1)[1])
            m = re.search(r"Exponent: (\d+)", text)
            e = int(m.group(1)) if m else 65537
            keys.jwk[alg] = {"kty": "RSA", "kid": KIDS[alg], "alg": alg, "use": "sig",
                             "n": b64url(n), "e": b64url(e.to_bytes((e.bit_length() + 7) // 8, "big"))}
    return keys


def der_ecdsa_to_raw(der: bytes, size: int = 32) -> bytes:
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) to JOSE's r || s."""
    if der[0] != 0x30:
        raise ValueError("not a DER sequence")
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    parts = []
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not a DER integer")
        length = der[i + 1]
        value = der[i + 2: i + 2 + length].lstrip(b"\0")
        parts.append(value.rjust(size, b"\0"))
        i += 2 + length
    return parts[0] + parts[1]


class Minter:
    """Mints tokens with `tollgate-token` when it works, else with openssl + stdlib."""

    def __init__(self, keys: KeySet, token_bin: str | None):
        self.keys = keys
        self.token_bin = token_bin if token_bin and os.access(token_bin, os.X_OK) else None
        self.how = "python + openssl (tollgate-token not usable)"
        if self.token_bin:
            try:
                self._cli("HS256", "probe", 60)
                self.how = f"{token_bin}"
            except Exception as err:  # noqa: BLE001 - any failure means: fall back
                log(f"tollgate-token not usable ({err}); minting with openssl")
                self.token_bin = None

    def _cli(self, alg: str, sub: str, ttl: int) -> str:
        out = subprocess.run(
            [self.token_bin, "--alg", alg, "--key", str(self.keys.path(alg)), "--kid", KIDS[alg],
             "--iss", ISSUER, "--aud", AUDIENCE, "--sub", sub, "--roles", "user",
             "--ttl", str(ttl)],
            check=True, capture_output=True, text=True, timeout=20,
        ).stdout.strip()
        if out.count(".") != 2 or " " in out:
            raise RuntimeError("did not print a JWT")
        return out

    def _fallback(self, alg: str, sub: str, ttl: int) -> str:
        now = int(time.time())
        header = {"alg": alg, "typ": "JWT", "kid": KIDS[alg]}
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": ["user"],
                  "iat": now, "exp": now + ttl}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        data = signing_input.encode()
        if alg == "HS256":
            sig = hmac.new(self.keys.hs_secret, data, hashlib.sha256).digest()
        else:
            sig = openssl("dgst", "-sha256", "-sign", str(self.keys.path(alg)), stdin=data)
            if alg == "ES256":
                sig = der_ecdsa_to_raw(sig)
        return signing_input + "." + b64url(sig)

    def mint(self, alg: str, sub: str, ttl: int = MANY_TTL_S) -> str:
        if self.token_bin:
            return self._cli(alg, sub, ttl)
        return self._fallback(alg, sub, ttl)

    def mint_many(self, alg: str, count: int) -> tuple[list[str], str]:
        """Mints `count` tokens with distinct subjects, by whichever way is faster
        here (a debug-built tollgate-token signs RS256 slowly; openssl starts slowly)."""
        mint = self.mint
        how = "tollgate-token" if self.token_bin else "openssl"
        if self.token_bin:
            timings = {}
            for name, fn in (("tollgate-token", self.mint), ("openssl", self._fallback)):
                start = time.monotonic()
                for _ in range(3):
                    fn(alg, "probe", 60)
                timings[name] = time.monotonic() - start
            how = min(timings, key=timings.get)
            mint = self.mint if how == "tollgate-token" else self._fallback
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            tokens = list(pool.map(lambda i: mint(alg, f"bench-{i:06d}", MANY_TTL_S), range(count)))
        return tokens, how


# --------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------

FILLER = [
    "The quarterly report shows steady growth across all regions.",
    "Please summarise the attached meeting notes in three bullet points.",
    "The recipe needs two cups of flour, one egg and a pinch of salt.",
    "Our deployment pipeline runs the integration tests before every release.",
    "The weather tomorrow should be mild with a light breeze from the west.",
    "Remember to water the plants on the balcony while I am away.",
    "The library opens at nine and closes at six on weekdays.",
    "A good cache keeps the hot set small and evicts the cold entries first.",
    "The train to the coast leaves every hour from platform four.",
    "Write a short poem about autumn leaves and quiet streets.",
]


def luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return f"{s[0:4]} {s[4:8]} {s[8:12]} {s[12:16]}"


def pii_items(rng: random.Random):
    """An endless stream of PII-like values: email, card, SSN, OpenAI-style key."""
    yield SENTINEL
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    k = 0
    while True:
        kind = k % 4
        k += 1
        if kind == 0:
            yield f"{rng.choice(names)}.{rng.choice(names)}{rng.randrange(100)}@example.com"
        elif kind == 1:
            yield luhn_card(rng)
        elif kind == 2:
            yield f"{rng.randrange(100, 665)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"
        else:
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            yield "sk-" + "".join(rng.choice(alphabet) for _ in range(40))


def pii_text(rng: random.Random, size: int) -> str:
    """Prose of exactly `size` bytes with a PII value about every 200 bytes."""
    items = pii_items(rng)
    parts: list[str] = []
    length = 0
    while length < size:
        piece = " ".join(rng.choice(FILLER) for _ in range(2)) + f" Contact: {next(items)}. "
        parts.append(piece)
        length += len(piece)
    return "".join(parts)[:size].rstrip().ljust(size, ".")


def benign_text(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        piece = rng.choice(FILLER) + " "
        parts.append(piece)
        length += len(piece)
    return "".join(parts)[:size].ljust(size, ".")


def completion(content: str, completion_tokens: int) -> dict:
    return {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000,
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": completion_tokens,
                  "total_tokens": 12 + completion_tokens},
    }


def sized_json(build, size: int) -> bytes:
    """Serialises build(n), n the content length that makes the document `size` bytes."""
    envelope = len(json.dumps(build(0), separators=(",", ":")).encode())
    body = json.dumps(build(size - envelope), separators=(",", ":")).encode()
    if len(body) != size:
        raise RuntimeError(f"sized body is {len(body)} bytes, wanted {size}")
    return body


def write_bodies(out: Path, keys: KeySet) -> dict[str, int]:
    """Writes every request and response body; returns their sizes."""
    out.mkdir(parents=True, exist_ok=True)
    bodies: dict[str, bytes] = {}
    bodies["small.json"] = json.dumps(
        completion("Hello! How can I help you today?", 9), separators=(",", ":")).encode()
    for name, size in (("json-2k.json", 2048), ("json-64k.json", 65536)):
        bodies[name] = sized_json(
            lambda n, size=size: completion(pii_text(random.Random(size), n), size // 4), size)
    # SSE: ~16 KiB of chat.completion.chunk events; each PII value whole in one event.
    rng = random.Random(16)
    items = pii_items(rng)
    events = []
    total = 0
    i = 0
    while total < 16 * 1024:
        piece = next(items) if i % 8 == 0 else rng.choice(FILLER)[:24]
        i += 1
        chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
                 "model": "bench-model",
                 "choices": [{"index": 0, "delta": {"content": piece + " "}, "finish_reason": None}]}
        event = "data: " + json.dumps(chunk, separators=(",", ":")) + "\n\n"
        events.append(event)
        total += len(event)
    events.append("data: [DONE]\n\n")
    bodies["sse.txt"] = "".join(events).encode()
    # Chat requests for the screening arms: benign prose in messages of at most
    # 4000 characters, the document at most (and within a few bytes of) the size.
    def chat(n: int, seed: int) -> dict:
        text = benign_text(random.Random(seed), n) if n else "Hello!"
        messages = [{"role": "system", "content": "You are a helpful assistant."}]
        for j in range(0, len(text), 4000):
            messages.append({"role": "user" if j % 8000 == 0 else "assistant",
                             "content": text[j:j + 4000]})
        return {"model": "bench-model", "messages": messages, "max_tokens": 256}

    bodies["chat-tiny.json"] = json.dumps(chat(0, 0), separators=(",", ":")).encode()
    for name, size in (("chat-1k.json", 1024), ("chat-8k.json", 8192), ("chat-64k.json", 65536)):
        n = size
        while True:
            body = json.dumps(chat(n, size), separators=(",", ":")).encode()
            if len(body) <= size:
                break
            n -= len(body) - size
        bodies[name] = body
    jwks = {"keys": [keys.jwk["ES256"], keys.jwk["RS256"]]}
    bodies["jwks.json"] = json.dumps(jwks).encode()
    for name, data in bodies.items():
        (out / name).write_bytes(data)
    return {name: len(data) for name, data in bodies.items()}


# --------------------------------------------------------------------------
# Workloads and arms
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    method: str
    path: str
    response: str  # x-bench-response: small | json-2k | json-64k | sse
    body: str | None = None  # request body file in the bodies directory
    pii: bool = False  # the response carries the sentinel
    describe: str = ""


WORKLOADS = {w.name: w for w in [
    Workload("models", "GET", "/v1/models", "small",
             describe="GET, ~300 B JSON response"),
    Workload("chat-1k", "POST", "/v1/chat/completions", "small", "chat-1k.json",
             describe="POST 1 KiB chat body, small response"),
    Workload("chat-8k", "POST", "/v1/chat/completions", "small", "chat-8k.json",
             describe="POST 8 KiB chat body, small response"),
    Workload("chat-64k", "POST", "/v1/chat/completions", "small", "chat-64k.json",
             describe="POST 64 KiB chat body, small response"),
    Workload("resp-2k", "POST", "/v1/chat/completions", "json-2k", "chat-tiny.json", True,
             describe="tiny POST, 2 KiB JSON response with PII"),
    Workload("resp-64k", "POST", "/v1/chat/completions", "json-64k", "chat-tiny.json", True,
             describe="tiny POST, 64 KiB JSON response with PII"),
    Workload("sse", "POST", "/v1/chat/completions", "sse", "chat-tiny.json", True,
             describe="tiny POST, ~16 KiB SSE response with PII"),
    Workload("all", "POST", "/v1/chat/completions", "json-2k", "chat-1k.json", True,
             describe="POST 1 KiB chat body, 2 KiB JSON response with PII"),
]}


@dataclass
class Arm:
    name: str
    group: str
    workload: str
    filters: list[str]  # rendered filter fragments, in order
    token_alg: str | None = "ES256"  # the single token sent; None: no header
    many_tokens: bool = False
    # Every request carries a distinct well-formed token with a bad signature
    # (forged here, never signed): the pre-authentication limit's arms.
    bad_signatures: bool = False
    # The status the check request and the load must get (429 for a limited IP).
    expect_status: int = 200
    expect_redacted: bool = False
    compare: list[str] = field(default_factory=list)
    note: str = ""
    needs_rls: bool = False  # the rate-limit service and Redis must run
    # Envoy writes the audit record from filter state to an access-log file
    # (audit.sink: filter_state): the arm pays for what the demo does.
    access_log: bool = False
    # Runs only when BENCH_ARMS names it (the host-call cost arms).
    opt_in: bool = False
    # Filled in by the run:
    skipped: str | None = None
    runs: list[dict] = field(default_factory=list)


# The host-call cost arms: each kind, called this many times per request.
HOSTCALL_KINDS = ("clock", "header", "header_absent", "header_map", "remove_absent",
                  "set_header", "counter", "histogram", "shared_get", "property")
HOSTCALLS_PER_REQUEST = 50


class ArmBuilder:
    def __init__(self, args, keys: KeySet):
        self.args = args
        self.keys = keys

    def wasm(self, plugin: str, wasm_path: str, config: str, hold_headers: bool = False) -> str:
        # The plugin may hold request headers while it reads the body only when
        # Envoy allows it (the demo's "hold_request_headers": true needs this).
        options = "allow_on_headers_stop_iteration: true" if hold_headers else ""
        return render(template("filters/wasm.yaml"),
                      {"PLUGIN_NAME": plugin, "WASM": wasm_path, "PLUGIN_CONFIG": config,
                       "WASM_OPTIONS": options})

    def inline_keys(self, algs) -> tuple[list[dict], list[dict]]:
        """(hmac, pem) key entries of a provider for `algs`, from the bench key set."""
        hmac_keys: list[dict] = []
        pem_keys: list[dict] = []
        for a in algs:
            if a == "HS256":
                hmac_keys.append({"kid": KIDS[a], "alg": a,
                                  "secret_base64": base64.b64encode(self.keys.hs_secret).decode()})
            else:
                pem_keys.append({"kid": KIDS[a], "alg": a, "pem": self.keys.public_pem[a]})
        return hmac_keys, pem_keys

    def plugin_config(self, name: str, alg: str | None = None, cache: int = CACHE_ENTRIES) -> str:
        """The plugin JSON of a `tollgate/<name>.json` template."""
        hmac_keys, pem_keys = self.inline_keys([alg] if alg else list(ALGS))
        config = render(template(f"tollgate/{name}.json"), {
            "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "CACHE_ENTRIES": str(cache),
            "HMAC_KEYS": json.dumps(hmac_keys), "PEM_KEYS": json.dumps(pem_keys),
        })
        json.loads(config)  # a template bug should fail here, not as a skipped arm
        return config

    def tollgate(self, name: str, alg: str | None = None, cache: int = CACHE_ENTRIES) -> str:
        return self.wasm("tollgate", self.args.wasm, self.plugin_config(name, alg, cache))

    def demo_policy(self) -> dict:
        """The demo policy of envoy/envoy.yaml, made runnable here.

        Kept as written: routes, screening, redaction (every entity), audit,
        the three rate-limit policies with their keys, kinds and tiers, and
        `hold_request_headers`. Changed, because the bench has no JWKS server
        and sends thousands of requests a second from one subject:
        - the provider's `remote_jwks` becomes inline keys (HS256, ES256,
          RS256 from the bench key set; the demo's HS256 key is the same file);
        - every capacity and refill is raised to 1e9 per its period, so the
          buckets are taken from but never refuse (as in the rate-limit arm).
        """
        text = (REPO / "envoy" / "envoy.yaml").read_text()
        m = re.search(r"^(\s*)value: \|\n((?:\1\s+.*\n|\s*\n)+)", text, re.M)
        if not m:
            raise RuntimeError("envoy/envoy.yaml: no plugin configuration (`value: |` block) found")
        policy = json.loads(m.group(2))
        hmac_keys, pem_keys = self.inline_keys(ALGS)
        for provider in policy.get("auth", {}).get("providers", []):
            provider.pop("remote_jwks", None)
            provider.pop("jwks", None)
            provider["issuer"] = ISSUER
            provider["audiences"] = [AUDIENCE]
            provider["hmac"] = hmac_keys
            provider["pem"] = pem_keys
        policy.setdefault("auth", {})["cache"] = {"max_entries": CACHE_ENTRIES}
        for pol in policy.get("rate_limit", {}).get("policies", []):
            for bucket in [pol] + pol.get("tiers", []):
                bucket["capacity"] = 1_000_000_000
                bucket.setdefault("refill", {})["tokens"] = 1_000_000_000
        return policy

    def tollgate_all(self) -> tuple[list[str], str | None]:
        """The `tollgate-all` filter, or a skip reason when the demo policy is unreadable."""
        try:
            policy = self.demo_policy()
        except (OSError, ValueError, RuntimeError) as err:
            return [], f"demo policy: {err}"
        config = json.dumps(policy, indent=1)
        return [self.wasm("tollgate", self.args.wasm, config,
                          hold_headers=bool(policy.get("hold_request_headers")))], None

    def jwt_authn(self, alg: str, cache: bool) -> str:
        jwks = json.dumps({"keys": [self.keys.jwk[alg]]})
        cache_cfg = f"jwt_cache_config: {{ jwt_cache_size: {CACHE_ENTRIES} }}" if cache else ""
        return render(template("filters/jwt_authn.yaml"), {
            "ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "JWKS": jwks, "JWT_CACHE_CONFIG": cache_cfg})

    def build(self) -> list[Arm]:
        arms: list[Arm] = []
        for w in WORKLOADS:
            arms.append(Arm(f"plain-{w}", "1 plain Envoy", w, []))
        arms.append(Arm("empty-wasm", "2 empty Wasm", "models",
                        [self.wasm("empty", self.args.empty_wasm, "{}")], compare=["plain-models"]))
        t = "3 Tollgate, one feature"
        arms.append(Arm("tollgate-noop", t, "models", [self.tollgate("noop")],
                        compare=["empty-wasm"], note="routes only, no auth, audit off"))
        arms.append(Arm("tollgate-audit", t, "models", [self.tollgate("audit")],
                        compare=["tollgate-noop"], note="routes + one audit line per request"))
        audit_fs = json.loads(self.plugin_config("audit"))
        audit_fs["audit"]["sink"] = "filter_state"
        arms.append(Arm("tollgate-audit-access-log", t, "models",
                        [self.wasm("tollgate", self.args.wasm, json.dumps(audit_fs))],
                        compare=["tollgate-noop", "tollgate-audit"], access_log=True,
                        note="routes + the record as filter state, written by Envoy's access log"))
        for alg in ALGS:
            a = alg.lower()
            arms.append(Arm(f"tollgate-jwt-{a}-nocache", t, "models",
                            [self.tollgate("jwt", alg, cache=0)], token_alg=alg,
                            compare=[f"native-jwt-{a}-nocache"]))
            arms.append(Arm(f"tollgate-jwt-{a}-cache", t, "models",
                            [self.tollgate("jwt", alg)], token_alg=alg,
                            compare=[f"native-jwt-{a}-cache"]))
            arms.append(Arm(f"tollgate-jwt-{a}-many", t, "models",
                            [self.tollgate("jwt", alg)], token_alg=alg, many_tokens=True,
                            compare=[f"native-jwt-{a}-many"],
                            note=f"{self.args.tokens} tokens round-robin, cache {CACHE_ENTRIES}"))
        for alg in ("ES256", "RS256"):
            a = alg.lower()
            arms.append(Arm(f"tollgate-jwt-{a}-badsig-limited", t, "models",
                            [self.tollgate("jwt_pre_auth", alg)], token_alg=alg,
                            bad_signatures=True, expect_status=429,
                            compare=[f"tollgate-jwt-{a}-cache", f"tollgate-jwt-{a}-nocache"],
                            note=f"{self.args.tokens} forged tokens round-robin from one IP whose "
                                 "rate_limit.pre_auth bucket is empty: 429 before any signature check"))
        arms.append(Arm("tollgate-ratelimit", t, "models", [self.tollgate("rate_limit")],
                        compare=["empty-wasm", "native-ratelimit"],
                        note="per-IP bucket, capacity 1e9"))
        arms.append(Arm("tollgate-ratelimit-global", t, "models",
                        [self.tollgate("rate_limit_global")], needs_rls=True,
                        compare=["tollgate-ratelimit", "empty-wasm"],
                        note="per-IP, one RLS v3 call per request (tollgate-ratelimit + Redis on the load core)"))
        for size in ("1k", "8k", "64k"):
            arms.append(Arm(f"tollgate-screen-{size}", t, f"chat-{size}",
                            [self.tollgate("screening")], compare=[]))
        # What screening's fixed cost is made of, on the 1 KiB chat (opt-in:
        # BENCH_ARMS=tollgate-screen). Each part adds one stage to the one before:
        # routes only (the body is not buffered), the body read and parsed with
        # no text screened (only `developer` text is, and the body has none),
        # rules without the model, the model without rules, and everything.
        screening = json.loads(self.plugin_config("screening"))
        parts = (("noop", None),
                 ("parse", {"roles": ["developer"]}),
                 ("rules", {"model": {"enabled": False}}),
                 ("model", {"decode": {"enabled": False}, "pasted_documents": False,
                            "categories": {c: "off" for c in (
                                "instruction_override", "system_prompt_extraction",
                                "role_impersonation", "jailbreak_persona", "smuggling")}}))
        for part, screen_cfg in parts:
            cfg = dict(screening)
            if screen_cfg is None:
                cfg.pop("screening")
            else:
                cfg["screening"] = screen_cfg
            arms.append(Arm(f"tollgate-screen-1k-{part}", t, "chat-1k",
                            [self.wasm("tollgate", self.args.wasm, json.dumps(cfg))],
                            compare=[], opt_in=True,
                            note=f"part of tollgate-screen-1k: {part}"))
        # Routes only on the same answers: what redaction adds on top of the
        # filter's fixed cost per request is tollgate-redact-* minus these.
        for w, n in (("resp-2k", "2k"), ("sse", "sse")):
            arms.append(Arm(f"tollgate-noop-resp-{n}", t, w, [self.tollgate("noop")],
                            compare=[], note="routes only, the redaction arm's workload"))
        for w, n in (("resp-2k", "2k"), ("resp-64k", "64k"), ("sse", "sse")):
            arms.append(Arm(f"tollgate-redact-{n}", t, w, [self.tollgate("redaction")],
                            expect_redacted=True, compare=[f"native-lua-redact-{n}"],
                            note="EMAIL, CREDIT_CARD, US_SSN, OPENAI_KEY"))
        all_filters, all_skip = self.tollgate_all()
        arms.append(Arm("tollgate-all", "4 Tollgate, everything on", "all",
                        all_filters, expect_redacted=True, compare=[], skipped=all_skip,
                        access_log=True,
                        note="demo policy (envoy/envoy.yaml): inline keys, limits lifted to 1e9"))
        n = "5 Envoy native"
        for alg in ALGS:
            a = alg.lower()
            arms.append(Arm(f"native-jwt-{a}-nocache", n, "models", [self.jwt_authn(alg, False)],
                            token_alg=alg))
            arms.append(Arm(f"native-jwt-{a}-cache", n, "models", [self.jwt_authn(alg, True)],
                            token_alg=alg))
            arms.append(Arm(f"native-jwt-{a}-many", n, "models", [self.jwt_authn(alg, True)],
                            token_alg=alg, many_tokens=True))
        ratelimit = template("filters/local_ratelimit.yaml")
        arms.append(Arm("native-ratelimit", n, "models", [ratelimit]))
        arms.append(Arm("native-jwt-ratelimit", n, "models",
                        [self.jwt_authn("ES256", True), ratelimit], token_alg="ES256",
                        note="jwt_authn ES256 cached + local_ratelimit"))
        if self.args.hostcall_wasm:
            # What one host call costs in Envoy's V8 host: N calls of one kind
            # per request, against the empty filter (opt-in: BENCH_ARMS=hostcall).
            for kind in HOSTCALL_KINDS:
                arms.append(Arm(f"hostcall-{kind}", "6 host call cost", "models",
                                [self.wasm("hostcall", self.args.hostcall_wasm,
                                           f"{kind}:{HOSTCALLS_PER_REQUEST}")],
                                compare=["empty-wasm"], opt_in=True,
                                note=f"{HOSTCALLS_PER_REQUEST} × {kind} per request"))
        lua = template("filters/lua_redaction.yaml")
        for w, nm in (("resp-2k", "2k"), ("resp-64k", "64k"), ("sse", "sse")):
            arms.append(Arm(f"native-lua-redact-{nm}", n, w, [lua], expect_redacted=True,
                            note="4 Lua patterns, whole body buffered"))
        return arms


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    # After the command name: field 3 is index 0, so utime (14) is 11, stime (15) is 12.
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pin(core: int | None) -> list[str]:
    return ["taskset", "-c", str(core)] if core is not None else []


class Envoy:
    """One Envoy process started from a rendered config, stopped by its own pid."""

    def __init__(self, envoy: str, config: Path, logfile: Path, core: int | None,
                 admin_port: int, extra: list[str] | None = None):
        self.admin_port = admin_port
        self.logfile = logfile
        self.log_handle = open(logfile, "wb")
        cmd = pin(core) + [envoy, "-c", str(config), "--concurrency", "1",
                           "--disable-hot-restart", "-l", "warning",
                           "--component-log-level", "wasm:info", *(extra or [])]
        self.proc = subprocess.Popen(cmd, stdout=self.log_handle, stderr=subprocess.STDOUT,
                                     cwd=REPO)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> str | None:
        """None when the admin says LIVE; otherwise why it is not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            # Our own message names the field; Envoy's exit line only says the plugin failed.
            bad = invalid_config(self.log_text())
            if bad:
                return bad
            if exited:
                return "envoy exited: " + last_error(self.log_text())
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=1)
                conn.request("GET", "/ready")
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == 200 and b"LIVE" in body:
                    return None
            except OSError:
                pass
            time.sleep(0.05)
        return f"envoy not ready after {timeout:.0f} s"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_handle.close()


def invalid_config(text: str) -> str | None:
    m = re.search(r"tollgate: invalid configuration: ?([^\n]*)", text)
    if m:
        return "tollgate: invalid configuration: " + m.group(1).strip()[:200]
    return None


def last_error(text: str) -> str:
    lines = [ln for ln in text.splitlines() if "[critical]" in ln or "[error]" in ln]
    line = lines[-1] if lines else (text.strip().splitlines() or ["(no output)"])[-1]
    return re.sub(r"^\[[^\]]*\]\[[^\]]*\]\[[^\]]*\](\[[^\]]*\])? ?", "", line)[:240]


def http_check(port: int, w: Workload, bodies: Path, token: str | None,
               timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    headers = {"x-bench-response": w.response}
    body = (bodies / w.body).read_bytes() if w.body else None
    if body is not None:
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(w.method, w.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------

WRK_SCRIPT = r"""-- generated by benches/harness/run.py
local method, path = %(method)s, %(path)s
local headers = %(headers)s
local body_file, tokens_file = %(body_file)s, %(tokens_file)s
local body = nil
if body_file then
  local f = assert(io.open(body_file, "rb")); body = f:read("*a"); f:close()
  headers["content-type"] = "application/json"
end
local tokens = {}
if tokens_file then
  for line in io.lines(tokens_file) do if #line > 0 then tokens[#tokens + 1] = line end end
end
if #tokens <= 1 then
  if #tokens == 1 then headers["authorization"] = "Bearer " .. tokens[1] end
  wrk.method = method; wrk.path = path; wrk.body = body
  for k, v in pairs(headers) do wrk.headers[k] = v end
else
  -- Many distinct tokens: every request carries the next one, round-robin.
  local reqs, i = {}, 0
  init = function(args)
    for n, t in ipairs(tokens) do
      local h = {}
      for k, v in pairs(headers) do h[k] = v end
      h["authorization"] = "Bearer " .. t
      reqs[n] = wrk.format(method, path, h, body)
    end
  end
  request = function()
    i = i + 1
    if i > #reqs then i = 1 end
    return reqs[i]
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%%d duration_us=%%d bytes=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d p50_us=%%d p99_us=%%d mean_us=%%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50.0), latency:percentile(99.0), latency.mean))
end
"""


def lua_str(s: str | None) -> str:
    return "nil" if s is None else json.dumps(s)


def write_wrk_script(path: Path, w: Workload, bodies: Path, tokens_file: Path | None) -> None:
    headers = "{ " + ", ".join(f'[{lua_str(k)}] = {lua_str(v)}'
                               for k, v in {"x-bench-response": w.response}.items()) + " }"
    path.write_text(WRK_SCRIPT % {
        "method": lua_str(w.method), "path": lua_str(w.path), "headers": headers,
        "body_file": lua_str(str(bodies / w.body) if w.body else None),
        "tokens_file": lua_str(str(tokens_file) if tokens_file else None),
    })


def run_wrk(port: int, path: str, script: Path, seconds: float, connections: int,
            core: int | None) -> dict:
    cmd = pin(core) + ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
                       "--timeout", "5s", "--latency", "-s", str(script),
                       f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"BENCH_RESULT (.*)", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {(out.stderr or out.stdout).strip()[:300]}")
    result: dict = {}
    for kv in m.group(1).split():
        k, v = kv.split("=", 1)
        result[k] = float(v)
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out)
        for sub in ("configs", "logs", "wrk", "bodies"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.bodies = self.out / "bodies"
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) >= 2 and shutil.which("taskset"):
            self.proxy_core, self.load_core = cores[0], cores[1]
            self.pinning = (f"Envoy under test pinned to core {cores[0]} (`--concurrency 1`); "
                            f"upstream Envoy and wrk (1 thread) share core {cores[1]}")
        else:
            self.proxy_core = self.load_core = None
            self.pinning = "not pinned (fewer than 2 cores or no taskset): all processes share the CPUs"
        self.ports = {"proxy": free_port(), "proxy_admin": free_port(),
                      "upstream": free_port(), "upstream_admin": free_port(),
                      "rls": free_port(), "redis": free_port()}
        self.rls_procs: list[subprocess.Popen] = []
        self.upstream: Envoy | None = None
        self.tokens: dict[str, str] = {}
        self.token_files: dict[str, Path] = {}
        self.many_files: dict[str, Path] = {}
        self.forged_files: dict[str, Path] = {}

    # -- setup ------------------------------------------------------------

    def prepare(self) -> None:
        self.keys = load_keys(self.out)
        log(f"keys: {self.keys.source}")
        self.body_sizes = write_bodies(self.bodies, self.keys)
        self.minter = Minter(self.keys, self.args.token_bin)
        log(f"minting tokens with {self.minter.how}")
        for alg in ALGS:
            self.tokens[alg] = self.minter.mint(alg, "alice")
            f = self.out / "wrk" / f"token-{alg.lower()}.txt"
            f.write_text(self.tokens[alg] + "\n")
            self.token_files[alg] = f

    def forge_many(self, algs: set[str]) -> None:
        """BENCH_TOKENS distinct tokens per algorithm that pass every check needing
        no key (issuer, audience, times, alg, kid) and carry a random signature of
        the right length and range (ES256: r, s < n/2; RS256: s < n): each costs
        a signature check unless something refuses it before."""
        rng = random.Random(16)
        for alg in sorted(algs):
            now = int(time.time())
            header = b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": KIDS[alg]},
                                       separators=(",", ":")).encode())
            lines = []
            for i in range(self.args.tokens):
                claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"forged-{i:06d}",
                          "roles": ["user"], "iat": now, "exp": now + MANY_TTL_S}
                if alg == "ES256":
                    sig = b"".join(bytes([rng.randrange(1, 0x7F)]) + rng.randbytes(31)
                                   for _ in range(2))
                else:
                    sig = bytes([rng.randrange(0, 0x40)]) + rng.randbytes(255)
                lines.append(f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}"
                             f".{b64url(sig)}")
            f = self.out / "wrk" / f"forged-{alg.lower()}-{self.args.tokens}.txt"
            f.write_text("\n".join(lines) + "\n")
            self.forged_files[alg] = f

    def mint_many(self, algs: set[str]) -> None:
        """Mints BENCH_TOKENS distinct tokens per algorithm. Minting thousands of
        ES256/RS256 tokens takes a while, so a set is reused by later runs while
        it has an hour of validity left and was signed by the same key."""
        for alg in sorted(algs):
            f = self.out / "wrk" / f"tokens-{alg.lower()}-{self.args.tokens}.txt"
            meta = f.with_suffix(".json")
            key_id = hashlib.sha256(self.keys.path(alg).read_bytes()).hexdigest()
            try:
                m = json.loads(meta.read_text())
                if m["key"] == key_id and m["expires"] - time.time() > 3600 and f.exists():
                    self.many_files[alg] = f
                    log(f"reusing {self.args.tokens} {alg} tokens from {f}")
                    continue
            except (OSError, ValueError, KeyError):
                pass
            start = time.monotonic()
            toks, how = self.minter.mint_many(alg, self.args.tokens)
            f.write_text("\n".join(toks) + "\n")
            meta.write_text(json.dumps({"key": key_id, "expires": time.time() + MANY_TTL_S}))
            self.many_files[alg] = f
            log(f"minted {len(toks)} {alg} tokens with {how} in {time.monotonic() - start:.1f} s")

    def start_upstream(self) -> None:
        cfg = self.out / "configs" / "upstream.yaml"
        cfg.write_text(render(template("upstream.yaml"), {
            "LISTEN_PORT": self.ports["upstream"], "ADMIN_PORT": self.ports["upstream_admin"],
            "BODIES": str(self.bodies.resolve())}))
        self.upstream = Envoy(self.args.envoy, cfg, self.out / "logs" / "upstream.log",
                              self.load_core, self.ports["upstream_admin"])
        why = self.upstream.wait_ready()
        if why:
            sys.exit(f"error: the upstream Envoy did not start: {why} (log: {self.upstream.logfile})")
        for w in WORKLOADS.values():
            status, data, headers = http_check(self.ports["upstream"], w, self.bodies, None)
            want = {"small": "small.json", "json-2k": "json-2k.json", "json-64k": "json-64k.json",
                    "sse": "sse.txt"}[w.response]
            if status != 200 or len(data) != self.body_sizes[want]:
                sys.exit(f"error: upstream answered {status} with {len(data)} bytes for {w.name}")

    def upstream_capacity(self) -> list[dict]:
        """wrk straight at the upstream, both on the load core: the ceiling of that core."""
        rows = []
        for name in ("models", "resp-64k", "chat-64k"):
            w = WORKLOADS[name]
            script = self.out / "wrk" / f"upstream-{name}.lua"
            write_wrk_script(script, w, self.bodies, self.token_files["ES256"])
            seconds = min(self.args.duration, 5)
            r = run_wrk(self.ports["upstream"], w.path, script, seconds,
                        self.args.connections, self.load_core)
            rows.append({"workload": name, "rps": r["rps"], "p50_us": r["p50_us"]})
            log(f"upstream direct, {name}: {r['rps']:.0f} req/s")
        return rows

    # -- one arm, one round -------------------------------------------------

    def proxy_config(self, arm: Arm) -> Path:
        text = render(template("proxy.yaml"), {
            "LISTEN_PORT": self.ports["proxy"], "ADMIN_PORT": self.ports["proxy_admin"],
            "UPSTREAM_PORT": self.ports["upstream"], "RLS_PORT": self.ports["rls"],
            "HTTP_FILTERS": "\n".join(arm.filters) if arm.filters else "",
            "ACCESS_LOG": self.access_log(arm),
        })
        path = self.out / "configs" / f"{arm.name}.yaml"
        path.write_text(text)
        return path

    def access_log(self, arm: Arm) -> str:
        """The connection manager's access log of the demo, to a file, for arms that use it."""
        if not arm.access_log:
            return "# no access log"
        path = self.out / "logs" / f"{arm.name}.access.log"
        return "\n".join([
            "access_log:",
            "- name: envoy.access_loggers.file",
            "  filter:",
            "    extension_filter:",
            "      name: envoy.access_loggers.extension_filters.cel",
            "      typed_config:",
            '        "@type": type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter',
            "        expression: \"'wasm.tollgate_audit' in filter_state\"",
            "  typed_config:",
            '    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
            f"    path: {path}",
            "    log_format:",
            '      text_format_source: { inline_string: "%FILTER_STATE(wasm.tollgate_audit:PLAIN)%\\n" }',
        ])

    def run_arm(self, arm: Arm, rnd: int) -> None:
        w = WORKLOADS[arm.workload]
        cfg = self.proxy_config(arm)
        envoy = Envoy(self.args.envoy, cfg, self.out / "logs" / f"{arm.name}.r{rnd}.log",
                      self.proxy_core, self.ports["proxy_admin"])
        try:
            why = envoy.wait_ready()
            if why:
                arm.skipped = why
                return
            rss_idle = rss_kib(envoy.pid)
            token = self.tokens.get(arm.token_alg) if arm.token_alg else None
            if arm.bad_signatures:
                token = self.forged_files[arm.token_alg].read_text().split("\n", 1)[0]
            why = self.check(arm, w, token, envoy)
            if why:
                arm.skipped = why
                return
            tokens_file = (self.forged_files[arm.token_alg] if arm.bad_signatures
                           else self.many_files[arm.token_alg] if arm.many_tokens
                           else self.token_files.get(arm.token_alg) if arm.token_alg else None)
            script = self.out / "wrk" / f"{arm.name}.lua"
            write_wrk_script(script, w, self.bodies, tokens_file)
            if self.args.warmup > 0:
                run_wrk(self.ports["proxy"], w.path, script, self.args.warmup,
                        self.args.connections, self.load_core)
            before = cpu_ticks(envoy.pid)
            r = run_wrk(self.ports["proxy"], w.path, script, self.args.duration,
                        self.args.connections, self.load_core)
            after = cpu_ticks(envoy.pid)
            r["cpu_s"] = (after - before) / CLK_TCK
            r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"] if r["requests"] else 0.0
            r["rss_idle_kib"] = rss_idle
            r["rss_kib"] = rss_kib(envoy.pid)
            # wrk counts every non-2xx/3xx as a status error: expected here when
            # the arm is about refusals.
            status_errors = r["status"] if arm.expect_status < 400 else 0
            r["errors"] = int(r["connect"] + r["read"] + r["write"] + status_errors + r["timeout"])
            if arm.bad_signatures:
                r.update(self.auth_counters())
            arm.runs.append(r)
            flag = f", {r['errors']} errors" if r["errors"] else ""
            log(f"  {arm.name:28s} {r['rps']:9.0f} req/s  p50 {r['p50_us'] / 1000:.2f} ms  "
                f"p99 {r['p99_us'] / 1000:.2f} ms  {r['cpu_us_per_req']:.1f} µs CPU/req{flag}")
        except RuntimeError as err:
            arm.skipped = str(err)
        finally:
            envoy.stop()
        if arm.skipped is None:
            bad = invalid_config(envoy.log_text())
            if bad:
                arm.skipped = bad

    def auth_counters(self) -> dict[str, int]:
        """Tollgate's authentication and rate-limit counters from the admin endpoint
        (cumulative since the arm's Envoy started: check request and warm-up included)."""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.ports["proxy_admin"], timeout=5)
            conn.request("GET", "/stats?filter=tollgate\\.(auth|rate_limit)\\.")
            text = conn.getresponse().read().decode(errors="replace")
            conn.close()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().isdigit():
                out[name.strip()] = int(value)
        return {"auth_counters": out}

    def check(self, arm: Arm, w: Workload, token: str | None, envoy: Envoy) -> str | None:
        """One request before the load: the arm must answer 200 with the expected body
        (or, for a refusal arm, its status: the first forged token may still reach the
        signature check, 401, before the limit refuses the rest, 429)."""
        if arm.expect_status != 200:
            for _ in range(3):
                status, data, _ = http_check(self.ports["proxy"], w, self.bodies, token)
                if status == arm.expect_status:
                    return None
            detail = data[:160].decode(errors="replace").replace("\n", " ")
            return f"check request answered {status}, not {arm.expect_status}: {detail}"
        deadline = time.monotonic() + 10
        while True:
            try:
                status, data, _ = http_check(self.ports["proxy"], w, self.bodies, token)
                break
            except OSError as err:
                if envoy.proc.poll() is not None:
                    return "envoy exited: " + last_error(envoy.log_text())
                if time.monotonic() > deadline:
                    bad = invalid_config(envoy.log_text())
                    return bad or f"listener not serving: {err}"
                time.sleep(0.1)
        if status != 200:
            bad = invalid_config(envoy.log_text())
            if bad:
                return bad
            detail = data[:160].decode(errors="replace").replace("\n", " ")
            return f"check request answered {status}: {detail}"
        if w.pii:
            has = SENTINEL.encode() in data
            if arm.expect_redacted and has:
                return "check request: response not redacted (sentinel email still present)"
            if not arm.expect_redacted and not has:
                return "check request: response body lost the sentinel (upstream or arm misbehaves)"
        return None

    # -- the whole thing ----------------------------------------------------

    def run(self, arms: list[Arm]) -> None:
        self.loadavg_before = os.getloadavg()
        self.capacity = self.upstream_capacity()
        for rnd in range(self.args.rounds):
            order = arms if rnd % 2 == 0 else list(reversed(arms))
            log(f"round {rnd + 1}/{self.args.rounds}")
            for arm in order:
                if arm.skipped:
                    continue
                self.run_arm(arm, rnd)
                if arm.skipped:
                    log(f"  {arm.name:28s} skipped: {arm.skipped}")
        self.loadavg_after = os.getloadavg()

    def start_ratelimit(self) -> str | None:
        """Redis and tollgate-ratelimit on the load core, for the global arm;
        a reason when they cannot run (the arm is then skipped)."""
        binary = self.args.ratelimit_bin
        if not binary or not os.path.exists(binary):
            return f"no tollgate-ratelimit at {binary} (make ratelimit-bin)"
        if not shutil.which("redis-server"):
            return "redis-server not found (make redis)"
        limits = self.out / "configs" / "ratelimit.json"
        limits.write_text(json.dumps({"domain": "bench", "descriptors": [
            {"key": "policy", "value": "bench", "descriptors": [
                {"key": "client_ip", "rate_limit": {"unit": "second", "requests_per_unit": 1_000_000_000}}]}]}))
        logs = self.out / "logs"
        redis_log = open(logs / "redis.log", "wb")
        self.rls_procs.append(subprocess.Popen(
            pin(self.load_core) + ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no"],
            stdout=redis_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.ports["redis"]), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return "redis-server did not start"
                time.sleep(0.05)
        rls_log = open(logs / "ratelimit.log", "wb")
        proc = subprocess.Popen(
            pin(self.load_core) + [binary, "--config", str(limits), "--port", str(self.ports["rls"]),
                                   "--redis", f"127.0.0.1:{self.ports['redis']}"],
            stdout=subprocess.PIPE, stderr=rls_log, stdin=subprocess.DEVNULL)
        self.rls_procs.append(proc)
        line = proc.stdout.readline().decode() if proc.stdout else ""
        if not line.startswith("LISTENING"):
            return f"tollgate-ratelimit did not start: {line!r}"
        return None

    def stop(self) -> None:
        if self.upstream:
            self.upstream.stop()
        for proc in reversed(self.rls_procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(arm: Arm) -> dict | None:
    if not arm.runs:
        return None
    keys = ("rps", "p50_us", "p99_us", "cpu_us_per_req", "rss_kib", "rss_idle_kib")
    s = {k: median([r[k] for r in arm.runs]) for k in keys}
    s["errors"] = sum(r["errors"] for r in arm.runs)
    s["rounds"] = len(arm.runs)
    s["rps_min"] = min(r["rps"] for r in arm.runs)
    s["rps_max"] = max(r["rps"] for r in arm.runs)
    return s


def fmt_ratio(a: dict | None, b: dict | None) -> str:
    """Throughput of a relative to b."""
    if not a or not b or not b["rps"]:
        return "n/a"
    return f"{a['rps'] / b['rps']:.2f}"


def fmt_cpu_ratio(a: dict | None, b: dict | None) -> str:
    """CPU efficiency of a relative to b: b's CPU per request over a's. On a shared
    machine this is steadier than throughput, which also depends on how much of
    the core the Envoy under test was given."""
    if not a or not b or not a["cpu_us_per_req"]:
        return "n/a"
    return f"{b['cpu_us_per_req'] / a['cpu_us_per_req']:.2f}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def report(bench: Bench, arms: list[Arm], args) -> str:
    by = {a.name: a for a in arms}
    S = {a.name: summary(a) for a in arms}
    L = []
    L.append("# Tollgate benchmarks\n")
    L.append(f"- Machine: {machine()}; load average before/after: "
             f"{bench.loadavg_before[0]:.2f} / {bench.loadavg_after[0]:.2f} (the cores may be shared)")
    L.append(f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; Envoy: {envoy_version(args.envoy)}")
    L.append(f"- Command: `make bench` with BENCH_DURATION={args.duration:g} BENCH_WARMUP={args.warmup:g} "
             f"BENCH_ROUNDS={args.rounds} BENCH_CONNECTIONS={args.connections} "
             f"BENCH_TOKENS={args.tokens}" + (" (BENCH_QUICK=1: a smoke run, numbers are noisy)" if args.quick else ""))
    L.append(f"- Pinning: {bench.pinning}; wrk `-t1 -c{args.connections}`, HTTP/1.1 keep-alive")
    L.append(f"- Tokens minted with {bench.minter.how}; keys from {bench.keys.source}")
    L.append("- Values are medians over rounds. CPU µs/req: user+system time of the Envoy under "
             "test over the measured window, divided by requests. ×plain: throughput relative to "
             "plain Envoy on the same workload; ×plain CPU: plain's CPU per request over the arm's "
             "(steadier than throughput when other work shares the core). \"compared with\" "
             "gives both ratios, throughput first.\n")
    L.append("| arm | workload | req/s | p50 ms | p99 ms | CPU µs/req | ΔCPU µs/req vs plain | "
             "RSS MiB | ×plain | ×plain CPU | compared with |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for a in arms:
        s = S[a.name]
        if s is None:
            continue
        plain = S.get(f"plain-{a.workload}")
        d_cpu = (f"{s['cpu_us_per_req'] - plain['cpu_us_per_req']:+.1f}"
                 if plain and a.name != f"plain-{a.workload}" else "")
        comps = []
        for c in a.compare:
            if S.get(c):
                comps.append(f"{fmt_ratio(s, S[c])}× / CPU {fmt_cpu_ratio(s, S[c])}× {c}")
            elif c in by:
                comps.append(f"n/a ({c} {'skipped' if by[c].skipped else 'not run'})")
        # Native arms: show how Tollgate fares against them, from their side too.
        name = a.name + (" ⚠" if s["errors"] else "")
        L.append(f"| {name} | {a.workload} | {s['rps']:.0f} | {s['p50_us'] / 1000:.2f} | "
                 f"{s['p99_us'] / 1000:.2f} | {s['cpu_us_per_req']:.1f} | {d_cpu} | "
                 f"{s['rss_kib'] / 1024:.1f} | {fmt_ratio(s, plain)} | {fmt_cpu_ratio(s, plain)} | "
                 f"{'; '.join(comps)} |")
    errs = [a for a in arms if S[a.name] and S[a.name]["errors"]]
    if errs:
        L.append("")
        L.append("⚠ errors during the load (non-2xx/3xx, socket errors or timeouts): " + ", ".join(
            f"{a.name} ({S[a.name]['errors']})" for a in errs) + ". Their throughput is not comparable.")
    spread = [a for a in arms if S[a.name] and S[a.name]["rounds"] > 1
              and S[a.name]["rps_max"] > 1.1 * S[a.name]["rps_min"]]
    if spread:
        L.append("")
        L.append("Rounds differing by more than 10%: " + ", ".join(
            f"{a.name} ({S[a.name]['rps_min']:.0f}–{S[a.name]['rps_max']:.0f})" for a in spread) + ".")

    L.append("\n## Targets (issue 7)\n")
    L.append("Measured as throughput ratio, and in brackets as CPU-per-request ratio; "
             "\"met\" judges the throughput ratio.\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")

    def target(label: str, num: str, den: str, goal: float) -> None:
        a, b = S.get(num), S.get(den)
        if not a or not b:
            missing = [x for x in (num, den) if not S.get(x)]
            L.append(f"| {label} | n/a ({', '.join(missing)} not measured) | – |")
            return
        r = a["rps"] / b["rps"]
        L.append(f"| {label} | {r:.2f} (CPU {fmt_cpu_ratio(a, b)}) — {num} / {den} | "
                 f"{'yes' if r >= goal else '**no**'} |")

    target("empty Wasm ≥ 0.92 × plain", "empty-wasm", "plain-models", 0.92)
    target("everything on ≥ 0.70 × plain", "tollgate-all", "plain-all", 0.70)
    target("JWT HS256 (cached) ≥ 0.85 × plain", "tollgate-jwt-hs256-cache", "plain-models", 0.85)
    target("JWT HS256 (uncached) ≥ 0.85 × plain", "tollgate-jwt-hs256-nocache", "plain-models", 0.85)
    for alg in ("hs256", "es256", "rs256"):
        target(f"JWT {alg.upper()} cached ≥ 0.90 × jwt_authn cached",
               f"tollgate-jwt-{alg}-cache", f"native-jwt-{alg}-cache", 0.90)
    for alg in ("es256", "rs256"):
        a, b = S.get(f"tollgate-jwt-{alg}-nocache"), S.get(f"native-jwt-{alg}-nocache")
        L.append(f"| JWT {alg.upper()} uncached (target in issue 16's table) | "
                 + (f"{a['rps'] / b['rps']:.2f} (CPU {fmt_cpu_ratio(a, b)}) × jwt_authn uncached"
                    if a and b else "n/a")
                 + " | – |")
    target("rate limit ≥ 0.97 × empty Wasm", "tollgate-ratelimit", "empty-wasm", 0.97)
    target("rate limit ≥ 0.90 × local_ratelimit", "tollgate-ratelimit", "native-ratelimit", 0.90)
    for n in ("2k", "64k", "sse"):
        target(f"redaction {n} faster than Lua (≥ 1.00)", f"tollgate-redact-{n}",
               f"native-lua-redact-{n}", 1.00)
    lin = []
    for prefix, plain_of, sizes in (("tollgate-screen-", "chat-", ("1k", "8k", "64k")),):
        for sz in sizes:
            a, p = S.get(prefix + sz), S.get("plain-" + plain_of + sz)
            if a and p:
                kib = {"1k": 1, "8k": 8, "64k": 64}[sz]
                extra = a["cpu_us_per_req"] - p["cpu_us_per_req"]
                lin.append(f"{sz}: {extra:+.1f} µs ({extra / kib:.2f} µs/KiB)")
    L.append(f"| screening cost linear in body size (extra CPU/req over plain) | "
             f"{'; '.join(lin) if lin else 'n/a (screening arms not measured)'} | see numbers |")

    issue16_targets(L, S, bench)

    forged = [a for a in arms if a.bad_signatures and a.runs]
    if forged:
        L.append("\n## Bad signatures from a limited IP: where the refusal happens\n")
        L.append("Counters of the arm's Envoy after its last round (check request, warm-up and "
                 "load). Signature checks that ran show up as `jwt_invalid_signature` denials; "
                 "the rest were refused by `pre_auth` before any key was used.\n")
        L.append("| arm | requests (load) | jwt_invalid_signature | denied rate_limited | "
                 "rate_limit.limited pre_auth |")
        L.append("|---|---:|---:|---:|---:|")
        for a in forged:
            r = a.runs[-1]
            c = r.get("auth_counters", {})
            inv = sum(v for k, v in c.items() if k.endswith("jwt_invalid_signature"))
            denied = sum(v for k, v in c.items() if k.endswith("denied.code.rate_limited"))
            lim = sum(v for k, v in c.items() if k.endswith("limited.policy.pre_auth"))
            L.append(f"| {a.name} | {int(r['requests'])} | {inv} | {denied} | {lim} |")

    L.append("\n## Upstream capacity (is the upstream the bottleneck?)\n")
    L.append("wrk straight at the upstream Envoy, both on the load core — the most that core can "
             "serve while also generating load:\n")
    L.append("| workload | upstream direct req/s | best proxied req/s (plain) | headroom |")
    L.append("|---|---:|---:|---:|")
    for row in bench.capacity:
        p = S.get(f"plain-{row['workload']}")
        head = f"{row['rps'] / p['rps']:.2f}×" if p else "n/a"
        L.append(f"| {row['workload']} | {row['rps']:.0f} | {p['rps']:.0f} | {head} |" if p
                 else f"| {row['workload']} | {row['rps']:.0f} | n/a | n/a |")
    L.append("\nA headroom well above 1× means the proxied numbers are limited by the Envoy under "
             "test, not by the upstream and wrk.")

    L.append("\n## Sizes and memory\n")
    L.append("| item | value |")
    L.append("|---|---|")
    for label, path in (("tollgate.wasm", args.wasm), ("empty_filter.wasm", args.empty_wasm)):
        try:
            L.append(f"| {label} size | {os.path.getsize(path) / 1024:.0f} KiB |")
        except OSError:
            L.append(f"| {label} size | missing |")
    for name in ("plain-models", "empty-wasm", "tollgate-noop", "tollgate-jwt-es256-many",
                 "tollgate-all", "native-jwt-es256-many"):
        s = S.get(name)
        if s:
            L.append(f"| Envoy RSS, {name} | {s['rss_idle_kib'] / 1024:.1f} MiB idle, "
                     f"{s['rss_kib'] / 1024:.1f} MiB after load |")

    skipped = [a for a in arms if a.skipped]
    if skipped:
        L.append("\n## Skipped arms\n")
        for a in skipped:
            L.append(f"- {a.name}: skipped: {a.skipped}")

    L.append("\n## Arms\n")
    for a in arms:
        w = WORKLOADS[a.workload]
        extra = f" — {a.note}" if a.note else ""
        tok = (
            f"{a.token_alg} token{'s (many)' if a.many_tokens else ''}" if a.token_alg else "no token")
        L.append(f"- `{a.name}` ({a.group}): {w.describe}; {tok}{extra}")
    L.append("\nMicro-benchmarks of the pure core (native, no Envoy): `cargo bench --bench core` "
             "(see benches/README.md).")
    return "\n".join(L) + "\n"


def envoy_version(envoy: str) -> str:
    try:
        out = subprocess.run([envoy, "--version"], capture_output=True, text=True, timeout=30).stdout
        m = re.search(r"version: \S+/(\d+\.\d+\.\d+)", out)
        return m.group(1) if m else out.strip()[:80]
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


# --------------------------------------------------------------------------



def issue16_targets(L: list, S: dict, bench) -> None:
    """Issue 16's targets, judged on CPU per request (the steadier column)."""
    L.append("\n## Targets (issue 16), by CPU per request\n")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")

    def cpu(name):
        a = S.get(name)
        return a["cpu_us_per_req"] if a else None

    def row(label, value, ok):
        L.append(f"| {label} | {value} | {'–' if ok is None else ('yes' if ok else '**no**')} |")

    a, p = cpu("tollgate-all"), cpu("plain-all")
    row("everything on ≥ 0.45 × plain (CPU)",
        f"{p / a:.2f} — plain-all / tollgate-all CPU" if a and p else "n/a", p / a >= 0.45 if a and p else None)
    s8, s64, p8, p64 = cpu("tollgate-screen-8k"), cpu("tollgate-screen-64k"), cpu("plain-chat-8k"), cpu("plain-chat-64k")
    if None not in (s8, s64, p8, p64):
        slope = ((s64 - p64) - (s8 - p8)) / 56
        row("screening marginal cost ≤ 10 µs/KiB",
            f"{slope:.1f} µs/KiB between 8 and 64 KiB ({(s64 - p64) / 64:.1f} µs/KiB average at 64 KiB)",
            slope <= 10)
    else:
        row("screening marginal cost ≤ 10 µs/KiB", "n/a (screening arms not measured)", None)
    r2, pr2 = cpu("tollgate-redact-2k"), cpu("plain-resp-2k")
    row("redaction of a 2 KiB JSON answer ≤ 15 µs",
        f"{r2 - pr2:+.1f} µs — tollgate-redact-2k − plain-resp-2k" if r2 and pr2 else "n/a",
        (r2 - pr2) <= 15 if r2 and pr2 else None)
    rs, ps = cpu("tollgate-redact-sse"), cpu("plain-sse")
    r64, p64r = cpu("tollgate-redact-64k"), cpu("plain-resp-64k")
    sizes = getattr(bench, "body_sizes", {}) or {}
    if rs and ps and r64 and p64r and sizes.get("sse.txt") and sizes.get("json-64k.json"):
        # Per byte against the 64 KiB JSON answer, where the per-response
        # fixed cost is spread thin (the 2 KiB answer is mostly fixed cost).
        per_sse = (rs - ps) / sizes["sse.txt"]
        per_json = (r64 - p64r) / sizes["json-64k.json"]
        ratio = per_sse / per_json if per_json > 0 else float("inf")
        row("SSE redaction per byte ≤ 2 × JSON per byte",
            f"{ratio:.1f}× ({per_sse * 1024:.1f} vs {per_json * 1024:.1f} µs/KiB; JSON from the 64 KiB answer)",
            ratio <= 2)
    else:
        row("SSE redaction per byte ≤ 2 × JSON per byte", "n/a", None)
    for alg in ("rs256", "es256"):
        t, n = cpu(f"tollgate-jwt-{alg}-nocache"), cpu(f"native-jwt-{alg}-nocache")
        row(f"uncached {alg.upper()} ≥ 0.5 × jwt_authn (CPU)",
            f"{n / t:.2f} — native / tollgate CPU" if t and n else "n/a", n / t >= 0.5 if t and n else None)
    for alg in ("es256", "rs256"):
        # Every request: a fresh forged token from an IP whose pre_auth bucket is empty.
        b, c = cpu(f"tollgate-jwt-{alg}-badsig-limited"), cpu(f"tollgate-jwt-{alg}-cache")
        row(f"bad-signature {alg.upper()} from a limited IP ≤ cached valid (CPU)",
            f"{b:.1f} vs {c:.1f} µs/req — tollgate-jwt-{alg}-badsig-limited vs -cache"
            if b and c else "n/a (badsig-limited or cache arm not measured)",
            b <= c if b and c else None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envoy", default=str(REPO / ".venv" / "bin" / "envoy"))
    p.add_argument("--wasm", default=str(REPO / "target/wasm32-wasip1/release/tollgate.wasm"))
    p.add_argument("--empty-wasm", required=True)
    p.add_argument("--token-bin", default=None)
    p.add_argument("--hostcall-wasm", default=None,
                   help="benches/hostcall-filter's .wasm: adds the opt-in hostcall-* arms")
    p.add_argument("--ratelimit-bin", default=str(REPO / "target" / "debug" / "tollgate-ratelimit"))
    p.add_argument("--out", default=os.environ.get("BENCH_OUT") or str(REPO / "target" / "bench"))
    p.add_argument("--list", action="store_true", help="list the arms and exit")
    p.add_argument("--baseline-wasm", default=os.environ.get("BENCH_BASELINE_WASM") or None,
                   help="an earlier tollgate.wasm: every Tollgate arm also runs with it, as "
                        "`base:<arm>` right beside the arm in each round (a paired A/B)")
    args = p.parse_args()
    args.quick = os.environ.get("BENCH_QUICK", "").strip() not in ("", "0")
    args.duration = env_num("BENCH_DURATION", 2 if args.quick else 10)
    args.warmup = env_num("BENCH_WARMUP", 1 if args.quick else 2)
    args.rounds = int(env_num("BENCH_ROUNDS", 1 if args.quick else 3))
    args.connections = int(env_num("BENCH_CONNECTIONS", 16))
    args.tokens = int(env_num("BENCH_TOKENS", 2000))
    args.wasm = str(Path(args.wasm).resolve())
    if args.baseline_wasm:
        args.baseline_wasm = str(Path(args.baseline_wasm).resolve())
    args.empty_wasm = str(Path(args.empty_wasm).resolve())
    if args.hostcall_wasm:
        args.hostcall_wasm = str(Path(args.hostcall_wasm).resolve())
    select = os.environ.get("BENCH_ARMS", "").strip()

    for tool in ("wrk", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"error: `{tool}` not found on PATH (make bench installs wrk)")
    for label, path in (("envoy", args.envoy), ("tollgate.wasm", args.wasm),
                        ("empty filter", args.empty_wasm)):
        if not os.path.exists(path):
            sys.exit(f"error: {label} not found at {path}")

    bench = Bench(args)
    bench.prepare()
    arms = ArmBuilder(args, bench.keys).build()
    if select:
        pattern = re.compile(select)
        chosen = [a for a in arms if pattern.search(a.name)]
        needed = {f"plain-{a.workload}" for a in chosen}
        needed |= {c for a in chosen if a.opt_in for c in a.compare}
        arms = [a for a in arms if a in chosen or a.name in needed]
    else:
        arms = [a for a in arms if not a.opt_in]
    if args.baseline_wasm:
        arms = with_baseline(arms, args.wasm, args.baseline_wasm)
    if args.list:
        for a in arms:
            print(f"{a.name:30s} {a.group:28s} {a.workload}")
        return 0
    if not arms:
        sys.exit(f"error: BENCH_ARMS={select!r} matches no arm (see --list)")
    many = {a.token_alg for a in arms if a.many_tokens and a.token_alg}
    bench.mint_many(many)
    bench.forge_many({a.token_alg for a in arms if a.bad_signatures and a.token_alg})

    est = len(arms) * args.rounds * (args.duration + args.warmup + 2)
    log(f"{len(arms)} arms × {args.rounds} rounds, about {est / 60:.0f} min; {bench.pinning}")
    try:
        bench.start_upstream()
        if any(a.needs_rls for a in arms):
            why = bench.start_ratelimit()
            for a in arms:
                if a.needs_rls and why:
                    a.skipped = why
        bench.run(arms)
    finally:
        bench.stop()
    text = report(bench, arms, args)
    if any(a.name.startswith("hostcall-") for a in arms):
        text += "\n".join(hostcall_table(arms)) + "\n"
    if args.baseline_wasm:
        text += "\n".join(baseline_table(arms) + [f"\nBaseline: `{args.baseline_wasm}`\n"])
    (bench.out / "results.md").write_text(text)
    (bench.out / "results.json").write_text(json.dumps(
        {a.name: {"workload": a.workload, "skipped": a.skipped, "runs": a.runs} for a in arms},
        indent=1))
    (bench.out / "ratios.svg").write_text(ratio_chart(arms))
    print(text)
    log(f"written {bench.out / 'results.md'} and {bench.out / 'ratios.svg'}")
    return 0


def hostcall_table(arms: list[Arm]) -> list[str]:
    """What one host call costs: each hostcall arm's CPU over the empty filter's,
    per call. Per round too, since rounds ran side by side."""
    by = {a.name: a for a in arms}
    empty = by.get("empty-wasm")
    L = ["\n## What one host call costs (CPU µs per call, Envoy's V8 host)\n",
         f"Each arm makes {HOSTCALLS_PER_REQUEST} calls of one kind per request; "
         "(arm − empty-wasm) / calls, median over rounds (per-round values in brackets).\n",
         "| call | µs per call | rounds |", "|---|---:|---|"]
    if not empty or not empty.runs:
        return L + ["| (empty-wasm did not run) | | |"]
    for a in arms:
        if not a.name.startswith("hostcall-") or not a.runs:
            continue
        per = [(r["cpu_us_per_req"] - e["cpu_us_per_req"]) / HOSTCALLS_PER_REQUEST
               for r, e in zip(a.runs, empty.runs)]
        L.append(f"| {a.name.removeprefix('hostcall-')} | {median(per):.2f} | "
                 f"{' '.join(f'{x:.2f}' for x in per)} |")
    return L


def with_baseline(arms: list[Arm], wasm: str, baseline: str) -> list[Arm]:
    """Each Tollgate arm followed by `base:<arm>`: the same filters with the
    baseline .wasm. Adjacent in every round (and reversed on odd rounds), so
    drift on a shared machine hits both sides of each pair alike."""
    out: list[Arm] = []
    for a in arms:
        out.append(a)
        if not any(wasm in f for f in a.filters):
            continue
        out.append(replace(a, name=f"base:{a.name}", group=a.group + " (baseline)",
                           filters=[f.replace(wasm, baseline) for f in a.filters],
                           compare=[a.name], runs=[], skipped=None))
    return out


def baseline_table(arms: list[Arm]) -> list[str]:
    """The paired A/B: each Tollgate arm against its baseline, CPU per request
    per round (pairs ran side by side), and the median of the per-round ratios."""
    by = {a.name: a for a in arms}
    L = ["\n## This build against the baseline .wasm (paired, same rounds)\n",
         "CPU µs/req per round, this build / baseline; ratio < 1.00 means this build is cheaper. "
         "The verdict needs every round to agree: a pair whose rounds straddle 1.00 is noise.\n",
         "| arm | this build (rounds) | baseline (rounds) | median ratio | verdict |",
         "|---|---|---|---:|---|"]
    for a in arms:
        b = by.get(f"base:{a.name}")
        if not b or not a.runs or not b.runs:
            continue
        mine = [r["cpu_us_per_req"] for r in a.runs]
        base = [r["cpu_us_per_req"] for r in b.runs]
        ratios = [m / x for m, x in zip(mine, base) if x]
        if not ratios:
            continue
        if all(r > 1.03 for r in ratios):
            verdict = "**slower**"
        elif all(r < 0.97 for r in ratios):
            verdict = "faster"
        else:
            verdict = "same within noise"
        L.append(f"| {a.name} | {' '.join(f'{m:.0f}' for m in mine)} | "
                 f"{' '.join(f'{x:.0f}' for x in base)} | {median(ratios):.2f} | {verdict} |")
    return L


def ratio_chart(arms: list[Arm]) -> str:
    """The ratio table as a picture: one bar per arm, its CPU efficiency
    against plain Envoy on the same workload (plain CPU per request divided by
    the arm's; 1.0 is plain Envoy, higher is cheaper). SVG, no dependencies."""
    S = {a.name: summary(a) for a in arms}
    rows = []
    for a in arms:
        s, plain = S.get(a.name), S.get(f"plain-{a.workload}")
        if not s or not plain or a.name == f"plain-{a.workload}" or not s["cpu_us_per_req"]:
            continue
        rows.append((a.name, plain["cpu_us_per_req"] / s["cpu_us_per_req"]))
    bar_h, left, width = 18, 260, 420
    top = max([1.0] + [r for _, r in rows]) * 1.05
    height = 40 + bar_h * len(rows) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="10" y="18" font-size="13">CPU efficiency against plain Envoy '
           '(plain CPU/request ÷ arm CPU/request; 1.0 = plain)</text>']
    x1 = left + width * (1.0 / top)
    for i, (name, r) in enumerate(rows):
        y = 30 + i * bar_h
        w = width * r / top
        colour = "#4c78a8" if name.startswith("tollgate") else "#9d9d9d"
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{name}</text>')
        out.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="{colour}"/>')
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{r:.2f}×</text>')
    out.append(f'<line x1="{x1:.1f}" y1="26" x2="{x1:.1f}" y2="{30 + bar_h * len(rows)}" '
               'stroke="#d62728" stroke-dasharray="3,3"/>')
    out.append(f'<text x="{x1:.1f}" y="{height - 10}" text-anchor="middle" fill="#d62728">plain Envoy</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
