"""Fail-closed, proved in the real Envoy (issue 8): an internal error gives a
clean 5xx, is counted, and the worker that hit it serves the next request.

The trigger is real, not simulated: Envoy scopes proxy-wasm shared data by
`vm_id`, so a second Wasm module in the same Envoy with the same `vm_id`
(`hostile.corrupter_wasm`, hand-assembled) writes bytes the rate limiter did
not write into one of its slots, `tg:rl:v1:team:0`. A request whose key
probes that slot meets `corrupt_state`; one whose probes miss it is served.
The `team` policy has 8 slots, so both kinds of key are easy to find.
"""
import json
import time

import pytest

import harness
import hostile
from harness import claims, hs256_token

CORRUPT_KEY = "tg:rl:v1:team:0"
TEAM_POLICY = {"name": "team", "key": [{"header": "x-team"}], "capacity": 1000,
               "refill": {"tokens": 1000, "per_s": 1}, "slots": 8, "routes": ["models"]}


def corrupt_stack(run_dir, minter, name: str, fail_mode: str) -> harness.Stack:
    workdir = run_dir / name
    workdir.mkdir(parents=True, exist_ok=True)
    wasm = workdir / "corrupter.wasm"
    wasm.write_bytes(hostile.corrupter_wasm([CORRUPT_KEY]))
    cfg = hostile.demo_plugin()
    cfg["rate_limit"]["policies"].append(TEAM_POLICY)
    cfg["rate_limit"]["fail_mode"] = fail_mode
    return hostile.start_custom_stack(
        workdir, minter, plugin=cfg,
        edit_yaml=lambda t: hostile.insert_filter_first(t, hostile.corrupter_filter_yaml(wasm)))


@pytest.fixture(scope="module")
def closed(run_dir, minter):
    s = corrupt_stack(run_dir, minter, "fail-closed", "closed")
    yield s
    s.stop()


def get(client: hostile.RawClient, team: str | None, token: str):
    # GET: Envoy keeps an HTTP/1.1 connection open after a local reply only when
    # the request had no body left to read; one connection is then one worker.
    headers = {"authorization": f"Bearer {token}"}
    if team is not None:
        headers["x-team"] = team
    return client.request("GET", "/v1/models", headers)


def split_teams(s: harness.Stack, token: str) -> tuple:
    """(a team that meets the corrupt slot, a team that does not), found by asking."""
    hit = miss = None
    client = hostile.RawClient(s.url)
    try:
        for i in range(64):
            r = get(client, f"team-{i}", token)
            if r.status == 503 and hit is None:
                hit = f"team-{i}"
            elif r.status == 200 and miss is None:
                miss = f"team-{i}"
            if hit and miss:
                return hit, miss
    finally:
        client.close()
    raise AssertionError(f"no split found: hit={hit} miss={miss}")


def test_corrupt_rate_limit_state_is_a_clean_503_and_the_worker_serves_the_next_request(closed):
    s = closed
    token = hs256_token(claims(sub="fail-closed"))
    hit, miss = split_teams(s, token)
    vm_before = hostile.vm_stats(s.admin)
    errors_before = hostile.counter(s.admin, "wasmcustom.tollgate.internal.error.kind.corrupt_state")

    # One connection is one worker: the same VM refuses, then serves, then refuses again.
    client = hostile.RawClient(s.url)
    try:
        for _ in range(3):
            r = get(client, hit, token)
            assert r.status == 503, r
            assert r.header("x-mock-upstream") is None, r
            assert (r.header("content-type") or "").startswith("application/json"), r
            assert r.json() == {"error": {"message": "rate limiting is temporarily unavailable",
                                          "type": "api_error", "code": "rate_limit_unavailable"}}
            follow = get(client, miss, token)
            assert follow.status == 200 and follow.header("x-mock-upstream") == "1", follow
            # A request the policy does not cover at all, on the same worker.
            follow = get(client, None, token)
            assert follow.status == 200 and follow.header("x-mock-upstream") == "1", follow
    finally:
        client.close()

    harness.wait_until(lambda: hostile.counter(s.admin, "wasmcustom.tollgate.internal.error.kind.corrupt_state")
                       >= errors_before + 3, timeout=5, what="the corrupt_state counter")
    vm_after = hostile.vm_stats(s.admin)
    assert vm_after["wasm.envoy.wasm.runtime.v8.created"] == vm_before["wasm.envoy.wasm.runtime.v8.created"], vm_after
    assert vm_after["wasm.envoy.wasm.runtime.v8.active"] == vm_before["wasm.envoy.wasm.runtime.v8.active"], vm_after
    reloads = {k: v for k, v in vm_after.items() if k.startswith("wasm.tollgate.vm_reload") and v}
    assert reloads == {}, vm_after
    assert s.envoy.proc.poll() is None


def audit_lines(s: harness.Stack) -> list:
    out = []
    for ln in s.log_text().splitlines():
        if "tollgate.audit" in ln and "{" in ln:
            out.append(json.loads(ln[ln.index("{"):]))
    return out


def test_the_503_is_in_the_audit_line_and_nothing_panicked(closed):
    s = closed
    token = hs256_token(claims(sub="fail-closed-audit"))
    hit, _ = split_teams(s, token)
    time.sleep(0.3)
    before = len([a for a in audit_lines(s) if a.get("status") == 503])
    client = hostile.RawClient(s.url)
    try:
        assert get(client, hit, token).status == 503
    finally:
        client.close()
    harness.wait_until(lambda: len([a for a in audit_lines(s) if a.get("status") == 503]) > before,
                       timeout=5, what="the audit line of the 503")
    log = s.log_text()
    assert "panicked" not in log and "Wasm VM failed" not in log


def test_with_fail_mode_open_the_same_corruption_admits_and_is_counted(run_dir, minter):
    s = corrupt_stack(run_dir, minter, "fail-open", "open")
    try:
        token = hs256_token(claims(sub="fail-open"))
        client = hostile.RawClient(s.url)
        try:
            statuses = [get(client, f"team-{i}", token).status for i in range(16)]
        finally:
            client.close()
        assert statuses == [200] * 16, statuses
        # Slot 0 is in the probe window of half the homes: some of the 16 met it.
        assert hostile.counter(s.admin, "wasmcustom.tollgate.internal.error.kind.corrupt_state") > 0
    finally:
        s.stop()
