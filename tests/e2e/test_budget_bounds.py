"""One request cannot overshoot an LLM-token budget (issue 11, F9), through the real Envoy.

A private stack: a 2,000-token budget, the mock's model capped at 150 output
tokens, `missing_max_tokens: inject`. The mock honours the output limit it is
given, as a real model API does, and writes 10,000 repetitions of the prompt
when it is given none.
"""
from concurrent.futures import ThreadPoolExecutor

import pytest

import harness
from checks import assert_upstream_answered, marker

BUDGET = 2000
MODEL_MAX = 150


@pytest.fixture(scope="module")
def capped(run_dir, minter):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"] = {
        "policies": [{"name": "budget", "kind": "llm_tokens", "key": ["subject"], "routes": ["chat", "messages"],
                      "capacity": BUDGET, "refill": {"tokens": 1, "per_s": 3600}}],
        "models": [{"model": "tollgate-mock*", "max_output_tokens": MODEL_MAX}],
        "missing_max_tokens": "inject",
    }
    s = harness.start_stack(run_dir / "budget-bounds", minter, plugin=cfg)
    yield s
    s.stop()


def chat(stack, token, text, tag):
    body = {"model": "tollgate-mock-1", "messages": [{"role": "user", "content": text}]}
    request_id = f"{tag}-{marker()[:8]}"
    r = stack.request("POST", "/v1/chat/completions", token,
                      {"x-mock-repeat": "10000", "x-test-id": tag, "x-request-id": request_id}, body)
    return r, request_id


def test_the_output_limit_is_injected_and_the_upstream_stops_there(capped):
    tag = marker()
    token = capped.mint(alg="HS256", sub=f"inj-{tag[:8]}")
    r, request_id = chat(capped, token, "how long can you go on? ", tag)
    assert_upstream_answered(r)
    assert r.json()["usage"]["completion_tokens"] == MODEL_MAX
    record = capped.audit_for(request_id)
    assert record["token_budget"]["reserved"] == MODEL_MAX + 6  # 24 prompt characters
    # The mock stops only at a limit it was given: the body it got named one.
    assert len(capped.mock.find_requests(tag)) == 1


def test_a_concurrent_burst_is_charged_within_the_budget(capped):
    tag = marker()
    token = capped.mint(alg="HS256", sub=f"burst-{tag[:8]}")
    text = "x" * 40  # 10 prompt tokens, estimated exactly
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: chat(capped, token, text, tag), range(12)))
    ok = [r for r, _ in results if r.status == 200]
    assert ok and all(r.status in (200, 429) for r, _ in results), [r.status for r, _ in results]
    for r, request_id in results:
        capped.audit_for(request_id)  # every stream has settled
    charged = sum(r.json()["usage"]["total_tokens"] for r in ok)
    # Each request reserves 10 + 150 and can use no more: at most 12 × 160 = 1,920.
    assert charged <= BUDGET, charged
    assert all(r.json()["usage"]["completion_tokens"] <= MODEL_MAX for r in ok)
    # Nothing more is admitted while the budget is spent.
    r, _ = chat(capped, token, "x" * 4000, tag)
    assert r.status == 429, r
