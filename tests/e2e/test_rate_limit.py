"""Rate limiting and LLM-token budgets through the real Envoy (issue 3).

Two private stacks (the demo limits are too large to exhaust quickly):
- `limits`: the demo plugin configuration with small policies. Each policy's key
  includes a header (`x-rl-<policy>`), and a policy whose key part is missing
  does not apply, so every test opts into exactly one policy and uses its own
  header value: tests never share a bucket.
- `hops`: the same with `client_ip.trusted_hops: 2` (one proxy in front, plus the
  entry Envoy itself appends with `use_remote_address: true`).

Envoy runs with `--concurrency 2` and every request opens a new connection, so
requests spread over both workers' VMs, which share the buckets.
"""
import collections
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import harness
from checks import assert_denied, assert_upstream_answered, marker

HOUR = {"tokens": 1, "per_s": 3600}  # as good as no refill during a test

POLICIES = [
    {"name": "burst", "key": ["subject", {"header": "x-rl-burst"}], "capacity": 10, "refill": HOUR},
    {"name": "small", "key": ["subject", {"header": "x-rl-small"}], "capacity": 3, "refill": {"tokens": 1, "per_s": 2}},
    {"name": "by_ip", "key": ["ip", {"header": "x-rl-ip"}], "capacity": 5, "refill": HOUR},
    {"name": "watch", "key": ["subject", {"header": "x-rl-watch"}], "capacity": 2, "refill": HOUR, "monitor": True},
    {"name": "budget", "kind": "llm_tokens", "key": ["subject", {"header": "x-rl-budget"}],
     "routes": ["chat", "responses", "messages"], "capacity": 300, "refill": HOUR},
]


def plugin_with(rate_limit: dict) -> dict:
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"] = rate_limit
    # Audit lines through the Wasm log: the burst test reads which worker
    # thread wrote each one, which Envoy's access log does not say.
    cfg["audit"]["sink"] = "log"
    return cfg


@pytest.fixture(scope="module")
def limits(run_dir, minter):
    s = harness.start_stack(run_dir / "rate-limit-limits", minter, plugin=plugin_with({"policies": POLICIES}))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hops(run_dir, minter):
    rate_limit = {"policies": [{"name": "by_ip", "key": ["ip"], "capacity": 2, "refill": HOUR}],
                  "client_ip": {"trusted_hops": 2}}
    s = harness.start_stack(run_dir / "rate-limit-hops", minter, plugin=plugin_with(rate_limit))
    yield s
    s.stop()


def user(stack) -> tuple:
    """A fresh subject (its own buckets) and a token for it."""
    sub = f"rl-{marker()[:12]}"
    return sub, stack.mint(alg="HS256", sub=sub)


def statuses(responses) -> list:
    return [r.status for r in responses]


def ratelimit_entry(value: str, policy: str) -> dict:
    """The parameters of one policy's item in a RateLimit / RateLimit-Policy header."""
    for item in (value or "").split(","):
        name, _, params = item.strip().partition(";")
        if name == f'"{policy}"':
            return dict(p.split("=", 1) for p in params.split(";"))
    raise AssertionError(f"no {policy!r} item in {value!r}")


def assert_rate_limited(r: harness.Response, policy: str) -> None:
    error = assert_denied(r, 429, "rate_limited")
    assert f"`{policy}`" in error["message"], r
    assert re.fullmatch(r"[1-9][0-9]*", r.header("retry-after") or ""), r
    assert ratelimit_entry(r.header("ratelimit-policy"), policy)["q"].isdigit(), r
    assert ratelimit_entry(r.header("ratelimit"), policy)["r"] == "0", r


# ---------------------------------------------------------------------------
# Request limits
# ---------------------------------------------------------------------------

def test_concurrent_burst_admits_exactly_the_capacity_across_workers(limits):
    _, token = user(limits)
    tag = marker()
    ids = [f"{tag}-{i}" for i in range(30)]

    def one(request_id):
        return limits.chat(token, "burst", headers={"x-rl-burst": tag, "x-request-id": request_id})

    before = limits.stat("wasmcustom.tollgate.rate_limit.limited.policy.burst")
    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(one, ids))
    assert collections.Counter(statuses(responses)) == {200: 10, 429: 20}, statuses(responses)
    for r in responses:
        if r.status == 429:
            assert_rate_limited(r, "burst")
        else:
            assert_upstream_answered(r)
    # Both workers took part: the audit lines of this burst come from two threads.
    harness.wait_until(lambda: sum(tag in line for line in limits.log_text().splitlines()) >= 30, timeout=5,
                       what="the burst's audit lines")
    threads = {re.match(r"\[[^]]*\]\[(\d+)\]", line).group(1)
               for line in limits.log_text().splitlines() if tag in line and harness.AUDIT_MARK in line}
    assert len(threads) == 2, f"the burst was served by threads {threads}, expected both workers"
    assert limits.stat("wasmcustom.tollgate.rate_limit.limited.policy.burst") - before == 20
    prometheus = limits.prometheus()
    assert re.search(r'^tollgate_rate_limit_limited\{policy="burst"\} [1-9][0-9]*$', prometheus, re.M), \
        'tollgate_rate_limit_limited{policy="burst"} missing from /stats/prometheus'



def test_remaining_quota_counts_down_then_refusal_carries_the_headers(limits):
    _, token = user(limits)
    headers = {"x-rl-burst": marker()}
    for remaining in range(9, -1, -1):
        r = limits.chat(token, "count", headers=headers)
        assert_upstream_answered(r)
        assert ratelimit_entry(r.header("ratelimit-policy"), "burst") == {"q": "10", "w": "36000"}, r
        assert ratelimit_entry(r.header("ratelimit"), "burst")["r"] == str(remaining), r
    r = limits.chat(token, "one too many", headers=headers)
    assert_rate_limited(r, "burst")
    # One token per hour: the next one is (almost) an hour away.
    assert 3500 <= int(r.header("retry-after")) <= 3600, r
    assert r.json()["error"]["type"] == "rate_limit_error"


def test_bucket_refills_after_waiting(limits):
    _, token = user(limits)
    headers = {"x-rl-small": marker()}
    assert statuses(limits.chat(token, headers=headers) for _ in range(4)) == [200, 200, 200, 429]
    refused = limits.chat(token, headers=headers)
    assert_rate_limited(refused, "small")
    assert refused.header("retry-after") == "2", refused
    time.sleep(2.1)  # refill: 1 token per 2 seconds
    assert statuses(limits.chat(token, headers=headers) for _ in range(2)) == [200, 429]


def test_separate_users_have_separate_buckets(limits):
    headers = {"x-rl-small": marker()}
    _, alice = user(limits)
    _, bob = user(limits)
    assert statuses(limits.chat(alice, headers=headers) for _ in range(4)) == [200, 200, 200, 429]
    assert statuses(limits.chat(bob, headers=headers) for _ in range(4)) == [200, 200, 200, 429]


def test_x_forwarded_for_is_ignored_by_default(limits):
    _, token = user(limits)
    tag = marker()
    # Six different claimed client addresses, one real peer (127.0.0.1): one bucket of 5.
    got = [limits.chat(token, headers={"x-rl-ip": tag, "x-forwarded-for": f"198.51.100.{i}"}).status
           for i in range(6)]
    assert got == [200] * 5 + [429]


def test_x_forwarded_for_is_honoured_with_trusted_hops(hops):
    _, token = user(hops)
    a, b = "203.0.113.10", "203.0.113.11"
    got_a = [hops.chat(token, headers={"x-forwarded-for": a}).status for _ in range(3)]
    assert got_a == [200, 200, 429]
    # Another client address behind the trusted proxy has its own bucket.
    assert hops.chat(token, headers={"x-forwarded-for": b}).status == 200
    # One trusted proxy (Envoy appends the peer after it): the address that proxy
    # wrote counts; what the client wrote left of it does not.
    assert hops.chat(token, headers={"x-forwarded-for": f"192.0.2.1, {b}"}).status == 200
    assert_rate_limited(hops.chat(token, headers={"x-forwarded-for": f"192.0.2.2, {b}"}), "by_ip")


def test_monitor_policy_admits_and_counts(limits):
    _, token = user(limits)
    headers = {"x-rl-watch": marker()}
    before = limits.stat("wasmcustom.tollgate.rate_limit.monitored.policy.watch")
    for _ in range(5):
        assert_upstream_answered(limits.chat(token, headers=headers))
    # Capacity 2: the last three would have been limited.
    assert limits.stat("wasmcustom.tollgate.rate_limit.monitored.policy.watch") - before == 3
    assert limits.stat("wasmcustom.tollgate.rate_limit.limited.policy.watch") == 0


# ---------------------------------------------------------------------------
# LLM-token budgets (capacity 300 tokens)
# ---------------------------------------------------------------------------

# A 36-character prompt and max_tokens 10 reserve about 20 tokens, but the mock
# answers with the prompt repeated 10 times: usage is 9 prompt + 90 completion
# = 99 tokens (`x-mock-ignore-max-tokens`: an upstream that overruns its limit).
# Only settlement from the real usage refuses the fourth request; reservations
# alone would admit a dozen.
PROMPT = "count my tokens please, all of them!"
assert len(PROMPT) == 36


def budget_chat(stack, token, tag, stream=False, max_tokens=10, text=PROMPT, repeat=10):
    body = {"model": "m", "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    request_id = f"{tag}-{marker()[:8]}"
    r = stack.request("POST", "/v1/chat/completions", token,
                      {"x-rl-budget": tag, "x-test-id": tag, "x-mock-repeat": str(repeat), "x-request-id": request_id,
                       "x-mock-ignore-max-tokens": "1"},
                      body)
    # Settlement happens when the stream ends in Envoy, which may be just after
    # the client has the whole answer; the audit line is written after it.
    stack.audit_for(request_id)
    return r


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_token_budget_refuses_once_real_usage_used_it_up(limits, stream):
    _, token = user(limits)
    tag = marker()
    responses = [budget_chat(limits, token, tag, stream) for _ in range(5)]
    assert statuses(responses) == [200, 200, 200, 429, 429]
    first = responses[0]
    if stream:
        events = harness.parse_sse(first.body)
        assert events[-1] == "[DONE]"
        assert events[-2]["usage"]["total_tokens"] == 99
    else:
        assert first.json()["usage"]["total_tokens"] == 99
    assert ratelimit_entry(first.header("ratelimit-policy"), "budget").get("qu") == '"tokens"', first
    assert_rate_limited(responses[3], "budget")


def test_token_budget_settlement_refunds_the_unused_reservation(limits):
    _, token = user(limits)
    tag = marker()
    # Each request reserves 250 + 1 tokens of a 300 budget and uses 2: without
    # the refund the second would not fit.
    responses = [budget_chat(limits, token, tag, max_tokens=250, text="hi", repeat=1) for _ in range(4)]
    assert statuses(responses) == [200] * 4, responses
    assert responses[-1].json()["usage"]["total_tokens"] == 2
    # What remains after four settlements is the budget less what was used.
    remaining = int(ratelimit_entry(responses[-1].header("ratelimit"), "budget")["r"])
    assert remaining >= 300 - 251 - 3 * 2


def test_token_budget_reservation_too_large_is_refused_up_front(limits):
    _, token = user(limits)
    tag = marker()
    r = budget_chat(limits, token, tag, max_tokens=400, text="hi", repeat=1)
    assert_rate_limited(r, "budget")
    assert limits.mock.find_requests(tag) == []


def test_token_budget_settles_a_stream_without_usage_from_its_text(limits):
    # No stream_options.include_usage: no usage chunk, so the filter estimates
    # the streamed text (360 characters, about 90 tokens) and still refuses the fourth.
    _, token = user(limits)
    tag = marker()
    got = []
    for _ in range(5):
        body = {"model": "m", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
        request_id = f"{tag}-{marker()[:8]}"
        r = limits.request("POST", "/v1/chat/completions", token,
                           {"x-rl-budget": tag, "x-mock-repeat": "10", "x-request-id": request_id,
                            "x-mock-ignore-max-tokens": "1"}, body)
        got.append(r.status)
        if r.status == 200:
            assert "usage" not in r.text()
            record = limits.audit_for(request_id)
            assert record["token_budget"]["from_usage"] is False
            assert record["token_budget"]["charged"] >= 90, record
    assert got == [200, 200, 200, 429, 429]


def test_token_budget_settles_a_redacted_json_answer_larger_than_json_max_bytes(limits):
    _, token = user(limits)
    tag = marker()
    # Not 36 characters: Envoy rewrites one character of a UUID-shaped x-request-id
    # (its trace-decision marker), and the audit lookup needs the id unchanged.
    request_id = f"{tag}-big-json"
    unit = "contact john.doe@example.com about order 88231; "  # 48 characters
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": unit}]}
    r = limits.request("POST", "/v1/chat/completions", token,
                       {"x-rl-budget": tag, "x-mock-repeat": "200000", "x-request-id": request_id,
                        "x-mock-ignore-max-tokens": "1"}, body, timeout=60)
    assert_upstream_answered(r)
    assert len(r.body) > 8 * 1024 * 1024
    doc = r.json()  # redacted as text, still valid
    assert "@example.com" not in doc["choices"][0]["message"]["content"]
    assert doc["usage"]["completion_tokens"] == 2_400_000
    # 200,000 redactions over 8.8 MB: the stream ends (and logs) well after the client read it.
    record = limits.audit_for(request_id, timeout=30)
    assert record["redactions"] == {"EMAIL": 200_000}
    assert record["token_budget"]["from_usage"] is True, record["token_budget"]
    assert record["token_budget"]["charged"] == doc["usage"]["total_tokens"], record["token_budget"]
    assert_rate_limited(budget_chat(limits, token, tag), "budget")
