"""Authentication hardening through the real Envoy (issue 11 F13 and "also seen"; issue 16 item 4).

Uses the shared demo stack unless a test needs another plugin configuration.
"""
import harness
from checks import assert_denied, assert_invalid_token, assert_upstream_answered, marker


# ---- F13: a token without `sub` is not unlimited ----

def test_a_token_without_sub_is_refused_on_a_route_with_per_subject_limits(stack):
    token = harness.hs256_token(harness.claims(sub=None))
    r = stack.chat(token)
    assert_invalid_token(r, "jwt_missing_claim", token)
    assert "sub" in r.json()["error"]["message"]


def test_a_subjectless_token_is_counted_by_the_fallback_claim_when_configured(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"]["subject_fallback_claim"] = "client_id"
    cfg["rate_limit"]["policies"][0]["capacity"] = 2
    cfg["rate_limit"]["policies"][0]["refill"] = {"tokens": 1, "per_s": 3600}
    s = new_stack(plugin=cfg)
    token = harness.hs256_token(harness.claims(sub=None, client_id=f"svc-{marker()[:8]}"))
    got = [s.request("GET", "/v1/models", token).status for _ in range(4)]
    assert got == [200, 200, 429, 429], got
