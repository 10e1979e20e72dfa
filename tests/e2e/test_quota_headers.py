"""`RateLimit-Policy` and `RateLimit` carry every policy that applied (issue 13).

An admitted chat call is covered by the request policies (per_user, per_ip)
and by the token budget (daily_tokens); all three must be advertised, as they
are on a refusal, so a client can pace itself on what it is admitted.
"""
import re

POLICIES = ("per_user", "per_ip", "daily_tokens")


def names(header_value: str) -> list:
    return re.findall(r'"([a-z0-9_]+)";', header_value or "")


def test_an_admitted_chat_call_advertises_request_and_token_policies(stack):
    r = stack.chat(stack.mint(sub="pacer"))
    assert r.status == 200, r
    assert r.header("x-mock-upstream") == "1"
    policy = r.header_all("ratelimit-policy")
    state = r.header_all("ratelimit")
    assert len(policy) == 1 and len(state) == 1, (policy, state)
    assert sorted(names(policy[0])) == sorted(POLICIES), policy
    assert sorted(names(state[0])) == sorted(POLICIES), state
    assert 'qu="tokens"' in policy[0]


def test_a_call_without_a_budget_advertises_its_request_policies(stack):
    r = stack.request("GET", "/v1/models", stack.mint(sub="pacer2"))
    assert r.status == 200, r
    assert sorted(names(r.header("ratelimit-policy"))) == ["per_ip", "per_user"]
