#!/usr/bin/env python3
"""Time to first text: a chat answer streamed at a model's pace, through plain
Envoy and through Envoy with Tollgate (the demo policy: redaction of every
entity on), over the same mock upstream (issue 14).

    make bench-first-text                  (RUNS=N, CHARS=4, DELAY_MS=20)

The mock streams the answer CHARS characters per event, DELAY_MS apart. For
each arm and run we record, from the client's side: when the first content
text arrives (ms after the request was sent), how many reads carried text
(pieces the user sees), and whether the PII in the answer reached the client.
The table gives medians; the gateway's delay over plain Envoy is the figure
the issue's acceptance names ("first text within 100 ms of no gateway", "at
least half as many pieces"). Timing is only reported here, never asserted.
"""
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import harness  # noqa: E402  (the real-Envoy test harness: mock, Envoy, minter)

ANSWER = ("Sure! I have updated your profile. Your card 4111 1111 1111 1111 and the address "
          "john.doe@example.com are on file, and we will call you at (415) 555-0132 tomorrow "
          "morning to confirm the delivery window for your order.")
SECRETS = ["4111 1111", "john.doe@", "555-0132"]


def plain_yaml(text: str) -> str:
    """The demo YAML without the Wasm filter: plain Envoy, same routes."""
    start = text.index("          - name: envoy.filters.http.wasm")
    end = text.index("          - name: envoy.filters.http.router", start)
    return text[:start] + text[end:]


def one_run(url: str, token: str | None, chars: int, delay_ms: int) -> dict:
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"content-type": "application/json", "x-mock-chunk-chars": str(chars),
               "x-mock-delay-ms": str(delay_ms)}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"model": "m", "stream": True,
                       "messages": [{"role": "user", "content": ANSWER}]})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, headers)
    resp = conn.getresponse()
    first = None
    pieces = 0
    seen = ""
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        cut = buf.rfind(b"\n\n") + 2  # whole events only; a split one waits
        complete, buf = (buf[:cut], buf[cut:]) if cut >= 2 else (b"", buf)
        text = "".join(
            (e["choices"][0].get("delta", {}).get("content") or "")
            for e in harness.parse_sse(complete) if isinstance(e, dict) and e.get("choices"))
        seen += text
        if text:
            pieces += 1
            if first is None:
                first = (time.perf_counter() - t0) * 1000
    total = (time.perf_counter() - t0) * 1000
    conn.close()
    return {"first_ms": first, "pieces": pieces, "total_ms": total,
            "leaked": any(s in seen for s in SECRETS), "status": resp.status}


def main() -> int:
    runs = int(os.environ.get("RUNS", "10"))
    chars = int(os.environ.get("CHARS", "4"))
    delay = int(os.environ.get("DELAY_MS", "20"))
    upstream_events = -(-len(ANSWER) // chars)
    with tempfile.TemporaryDirectory(prefix="tollgate-first-text-") as tmp:
        work = Path(tmp)
        minter = harness.Minter()
        minter.ensure_built()
        mock = harness.Mock(work / "mock")
        envoys = {}
        try:
            demo = harness.demo_yaml()
            envoys["plain Envoy"] = harness.Envoy(work / "plain", harness.free_port_yaml(plain_yaml(demo), mock.port))
            envoys["Tollgate (redaction on)"] = harness.Envoy(
                work / "tollgate", harness.free_port_yaml(demo, mock.port, harness.wasm_path()))
            for e in envoys.values():
                e.wait_ready()
            token = minter.mint(alg="HS256", sub="bench-first-text")
            results = {name: [] for name in envoys}
            for i in range(runs + 1):
                for name, e in envoys.items():
                    r = one_run(e.url, token if "Tollgate" in name else None, chars, delay)
                    if i > 0:  # the first round warms up both
                        results[name].append(r)
        finally:
            for e in envoys.values():
                e.stop()
            mock.stop()
    print(f"# Time to first text ({runs} runs, {chars} characters every {delay} ms, "
          f"{upstream_events} upstream text events; medians)\n")
    print("| arm | first text ms | pieces | total ms | PII reached client |")
    print("|---|---:|---:|---:|---|")
    med = {}
    for name, rs in results.items():
        first = statistics.median(r["first_ms"] for r in rs if r["first_ms"] is not None)
        pieces = statistics.median(r["pieces"] for r in rs)
        total = statistics.median(r["total_ms"] for r in rs)
        leaked = any(r["leaked"] for r in rs)
        med[name] = (first, pieces)
        print(f"| {name} | {first:.1f} | {pieces:.0f} | {total:.0f} | {'yes' if leaked else 'no'} |")
    (pf, pp), (tf, tp) = med["plain Envoy"], med["Tollgate (redaction on)"]
    print(f"\nfirst text: +{tf - pf:.1f} ms over plain Envoy; pieces: {tp / pp:.2f}x of plain Envoy's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
