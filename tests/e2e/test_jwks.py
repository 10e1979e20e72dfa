"""The remote JWKS: fetched through an Envoy cluster, refetched for a new key id.

The rotation tests run on private stacks (their own mock and Envoy), because
they change which keys the mock publishes and the filter caches keys per worker.
"""
import json
import time
import uuid

import harness
from harness import KEYS
from checks import assert_invalid_token, assert_upstream_answered

ROTATED = dict(key=KEYS / "es256-rotated.pem", kid="demo-es256-rotated")
# The demo's min_refetch_interval_s is 5: a refetch for an unknown kid may have
# to wait that long, on each of the two workers.
PICKUP_TIMEOUT_S = 20


def test_remote_jwks_is_fetched_through_the_cluster(stack):
    # RS256 keys live only in the remote JWKS.
    assert_upstream_answered(stack.chat(stack.mint(alg="RS256")))
    assert stack.mock.stats()["jwks_fetches"] >= 1
    fetches = [r for r in stack.mock.requests() if r["path"] == "/.well-known/jwks.json"]
    assert fetches and all(r["method"] == "GET" for r in fetches)


def test_first_request_after_start_is_verified_with_the_remote_keys(new_stack):
    # What a user sees right after `make run`: no warm-up, RS256 lives only in the JWKS.
    s = new_stack()
    assert_upstream_answered(s.chat(s.mint(alg="RS256")))


def test_a_post_waiting_for_a_jwks_refetch_is_never_forwarded_unverified(new_stack):
    # Regression: with allow_on_headers_stop_iteration (the demo), Envoy hands the
    # filter the body of a request whose headers wait for a JWKS fetch; continuing
    # that body used to forward the request with authentication still pending.
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["auth"]["providers"][0]["remote_jwks"]["min_refetch_interval_s"] = 1
    s = new_stack(plugin=cfg)
    harness.wait_until(lambda: s.mock.stats()["jwks_fetches"] >= 2, timeout=10, what="both workers' first fetch")
    for _ in range(6):
        # Past the refetch interval: the unknown kid triggers a real fetch each time.
        time.sleep(1.1)
        tag = uuid.uuid4().hex
        token = s.mint(**ROTATED)
        r = s.request("POST", "/v1/chat/completions", token, {"x-test-id": tag},
                      {"model": "m", "messages": [{"role": "user", "content": "hello"}]})
        assert_invalid_token(r, "jwt_unknown_kid", token)
        assert s.mock.find_requests(tag) == [], "an unverified request reached the upstream"
    assert not [rec for rec in s.audit_records() if rec["auth"] == "pending"]
    assert s.mock.stats()["jwks_fetches"] >= 4, "the refetches this test is about did not happen"


def test_rotated_key_is_picked_up_without_a_restart(new_stack):
    s = new_stack()
    token = s.mint(**ROTATED)
    assert_invalid_token(s.chat(token), "jwt_unknown_kid", token)
    fetches_before = s.mock.stats()["jwks_fetches"]

    s.mock.set_jwks((KEYS / "jwks-rotated.json").read_text())
    started = time.monotonic()
    harness.wait_until(lambda: s.chat(token).status == 200, timeout=PICKUP_TIMEOUT_S, interval=0.5,
                       what="the rotated key to be accepted")
    pickup_s = time.monotonic() - started

    # Every worker ends up with the new key, and the old keys still work.
    def ten_in_a_row():
        return all(s.chat(token).status == 200 for _ in range(10))

    harness.wait_until(ten_in_a_row, timeout=PICKUP_TIMEOUT_S, interval=0.5, what="all workers to know the new key")
    assert_upstream_answered(s.chat(s.mint(alg="ES256")))
    assert s.envoy.proc.poll() is None, "Envoy restarted"
    assert s.mock.stats()["jwks_fetches"] > fetches_before
    assert pickup_s < PICKUP_TIMEOUT_S


def test_key_removed_from_the_jwks_is_dropped_at_the_next_refresh(new_stack):
    # A short refresh interval: a key the JWKS no longer lists is dropped.
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["auth"]["providers"][0]["remote_jwks"]["refresh_interval_s"] = 1
    s = new_stack(plugin=cfg)
    token = s.mint(alg="RS256")
    assert_upstream_answered(s.chat(token))
    jwks = json.loads((KEYS / "jwks.json").read_text())
    s.mock.set_jwks({"keys": [k for k in jwks["keys"] if k["kid"] != "demo-rs256"]})

    def refused():
        r = s.chat(token)
        return r.status == 401 and r.json()["error"]["code"] == "jwt_unknown_kid"

    harness.wait_until(lambda: all(refused() for _ in range(6)), timeout=15, interval=0.5,
                       what="the removed key to be dropped by every worker")
    assert_upstream_answered(s.chat(s.mint(alg="ES256")))


def test_unknown_kid_refetches_are_rate_limited(new_stack):
    s = new_stack()
    harness.wait_until(lambda: s.mock.stats()["jwks_fetches"] >= 1, timeout=10, what="the first fetch")
    time.sleep(0.5)
    before = s.mock.stats()["jwks_fetches"]
    for _ in range(20):
        token = s.mint(key=KEYS / "es256-rotated.pem", kid=f"made-up-{uuid.uuid4().hex[:8]}")
        assert_invalid_token(s.chat(token), "jwt_unknown_kid", token)
    fetched = s.mock.stats()["jwks_fetches"] - before
    # At most one on-demand fetch per worker (2) per 5 s interval, plus one of slack each.
    assert fetched <= 4, f"{fetched} JWKS fetches for 20 unknown key ids"
