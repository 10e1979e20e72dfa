"""Authentication hardening through the real Envoy (issue 11 F13 and "also seen"; issue 16 item 4).

Uses the shared demo stack unless a test needs another plugin configuration.
"""
import os
import time

import pytest

import harness
from checks import assert_denied, assert_invalid_token, assert_upstream_answered, marker, token_parts


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


# ---- the user's JWT never reaches the model API; the upstream gets its own key ----

DEMO_UPSTREAM_KEY = "tollgate-demo-upstream-key"


@pytest.fixture
def keyed_stack(new_stack):
    """The demo with a mock that, like a real model API, requires its own key."""
    os.environ["TOLLGATE_MOCK_API_KEY"] = DEMO_UPSTREAM_KEY
    try:
        return new_stack()
    finally:
        del os.environ["TOLLGATE_MOCK_API_KEY"]


def test_the_upstream_gets_its_own_key_and_never_the_users_jwt(keyed_stack):
    tag = marker()
    token = keyed_stack.mint(alg="ES256")
    r = keyed_stack.chat(token, headers={"x-test-id": tag})
    assert_upstream_answered(r)
    [seen] = keyed_stack.mock.find_requests(tag)
    assert seen["headers"]["authorization"] == f"Bearer {DEMO_UPSTREAM_KEY}"
    for name, value in seen["header_list"]:
        for part in token_parts(token):
            assert part not in value, f"the user's token reached the upstream in {name}"


def test_without_the_injected_key_the_keyed_upstream_refuses(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    del cfg["auth"]["upstream_credential"]
    os.environ["TOLLGATE_MOCK_API_KEY"] = DEMO_UPSTREAM_KEY
    try:
        s = new_stack(plugin=cfg)
    finally:
        del os.environ["TOLLGATE_MOCK_API_KEY"]
    r = s.chat(s.mint(alg="HS256"))
    assert r.status == 401 and r.header("x-mock-upstream") == "1", r
    assert r.json()["error"]["code"] == "invalid_api_key"


# ---- ECDSA high-S: one token, two encodings ----

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def encodings(token: str) -> tuple:
    """(low-S, high-S) encodings of an ES256 token: (r, s) and (r, n - s)."""
    signing_input, sig = token.rsplit(".", 1)
    raw = harness.b64url_decode(sig)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin = f"{signing_input}.{harness.b64url(r + (P256_N - s).to_bytes(32, 'big'))}"
    return (token, twin) if s <= P256_N // 2 else (twin, token)


def test_both_encodings_are_accepted_and_the_upstream_sees_only_the_low_s_one(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["auth"]["forward_token"] = True
    del cfg["auth"]["upstream_credential"]
    s = new_stack(plugin=cfg)
    low, high = encodings(s.mint(alg="ES256", sub=f"ecdsa-{marker()[:8]}"))
    for token in (low, high):
        tag = marker()
        assert_upstream_answered(s.request("GET", "/v1/models", token, {"x-test-id": tag}))
        [seen] = s.mock.find_requests(tag)
        assert seen["headers"]["authorization"] == f"Bearer {low}"


def test_reject_mode_refuses_the_high_s_encoding(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["auth"]["ecdsa_high_s"] = "reject"
    s = new_stack(plugin=cfg)
    low, high = encodings(s.mint(alg="ES256", sub=f"ecdsa-{marker()[:8]}"))
    assert_upstream_answered(s.request("GET", "/v1/models", low))
    assert_invalid_token(s.request("GET", "/v1/models", high), "jwt_malleable_signature", high)


# ---- cheap refusals and the per-IP pre-authentication limit (issue 16, item 4) ----

def forged(**overrides) -> str:
    """A well-formed HS256 token signed with the wrong secret (a fresh one each call)."""
    return harness.hs256_token(harness.claims(jti=marker(), **overrides), secret=b"x" * 32)


def test_a_bad_token_failing_a_keyless_check_is_refused_before_its_signature(stack):
    before = stack.stat("wasmcustom.tollgate.auth.pre_signature_refused")
    now = int(time.time())
    for token, code in [(forged(exp=now - 3600), "jwt_expired"), (forged(aud="elsewhere"), "jwt_wrong_audience"),
                        (forged(iat=now + 3600), "jwt_not_yet_valid")]:
        assert_invalid_token(stack.request("GET", "/v1/models", token), code, token)
    assert stack.stat("wasmcustom.tollgate.auth.pre_signature_refused") - before == 3


def test_a_flood_of_bad_signatures_from_one_address_is_bounded(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"]["pre_auth"] = {"capacity": 3, "refill": {"tokens": 1, "per_s": 3600}}
    s = new_stack(plugin=cfg)
    got = []
    for _ in range(6):
        token = forged()
        r = s.request("GET", "/v1/models", token)
        got.append(r.json()["error"]["code"])
    assert got == ["jwt_invalid_signature"] * 3 + ["rate_limited"] * 3, got
    r = s.request("GET", "/v1/models", forged())
    assert_denied(r, 429, "rate_limited")
    assert "`pre_auth`" in r.json()["error"]["message"] and r.header("retry-after"), r
    # Keyless refusals cost no signature check and are not limited.
    expired = forged(exp=int(time.time()) - 3600)
    assert_invalid_token(s.request("GET", "/v1/models", expired), "jwt_expired", expired)


def test_pre_auth_works_as_the_only_rate_limit(new_stack):
    # With no other policy and no client address in the audit record, the
    # host once skipped reading the peer address and pre_auth admitted all.
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["rate_limit"] = {"pre_auth": {"capacity": 2, "refill": {"tokens": 1, "per_s": 3600}}}
    cfg["audit"] = {"enabled": False}
    s = new_stack(plugin=cfg)
    got = [s.request("GET", "/v1/models", forged()).json()["error"]["code"] for _ in range(4)]
    assert got == ["jwt_invalid_signature"] * 2 + ["rate_limited"] * 2, got
