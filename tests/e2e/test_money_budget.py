"""Money budgets through the real Envoy (issue 18, item 4).

A private stack: a 0.05 USD daily budget per subject, the mock's model priced at
10 USD per million input tokens and 40 per million output tokens. Each request
(100 prompt tokens, `max_tokens` 100, which the mock honours) costs 0.005 USD.
"""
import pytest

import harness
from checks import assert_upstream_answered, marker
from test_rate_limit import assert_rate_limited, ratelimit_entry

BUDGET_MICROS = 50_000
PER_REQUEST_MICROS = 100 * 10 + 100 * 40  # micro-USD: 100 tokens at 10/M in, 100 at 40/M out


@pytest.fixture(scope="module")
def priced(run_dir, minter):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"] = {
        "policies": [{"name": "spend", "kind": "cost", "currency": "USD", "key": ["subject"],
                      "routes": ["chat", "messages"], "capacity": BUDGET_MICROS, "refill": {"tokens": 1, "per_s": 3600}}],
        "models": [{"model": "tollgate-mock*", "price": {"input_per_million": 10, "output_per_million": 40}}],
    }
    s = harness.start_stack(run_dir / "money-budget", minter, plugin=cfg)
    yield s
    s.stop()


def test_a_money_budget_stops_a_user_whose_spend_crosses_it(priced):
    tag = marker()
    token = priced.mint(alg="HS256", sub=f"spend-{tag[:8]}")
    body = {"model": "tollgate-mock-1", "max_tokens": 100, "messages": [{"role": "user", "content": "x" * 400}]}
    got, remaining = [], []
    for _ in range(12):
        request_id = f"{tag}-{marker()[:8]}"
        r = priced.request("POST", "/v1/chat/completions", token, {"x-request-id": request_id}, body)
        got.append(r.status)
        if r.status != 200:
            break
        assert_upstream_answered(r)
        assert r.json()["usage"] == {"prompt_tokens": 100, "completion_tokens": 100, "total_tokens": 200}
        policy = ratelimit_entry(r.header("ratelimit-policy"), "spend")
        assert policy["qu"] == '"usd-micros"' and int(policy["q"]) == BUDGET_MICROS, policy
        remaining.append(int(ratelimit_entry(r.header("ratelimit"), "spend")["r"]))
        priced.audit_for(request_id)  # settled
    # Ten requests of 0.005 USD spend the 0.05 USD; the eleventh is refused.
    assert got == [200] * 10 + [429], got
    assert_rate_limited(r, "spend")
    # RateLimit shows the remaining amount: what is left after this request's reservation.
    assert remaining == [BUDGET_MICROS - PER_REQUEST_MICROS * (i + 1) for i in range(10)], remaining
