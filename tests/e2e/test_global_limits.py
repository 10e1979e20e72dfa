"""Global limits and token budgets across replicas (issue 15), through real processes.

One module-wide cluster, as `make run-cluster` runs it but on free ports: Redis,
the rate-limit service (tollgate-ratelimit, RLS v3 over gRPC), the mock upstream,
and two Envoy replicas started from envoy/cluster/replica-a.yaml. The plugin
configuration is the cluster demo's plus two probe policies (one `fail_mode:
open`, one `closed`) keyed on headers, so the failure tests opt in per request.
The service's limits are a test copy of envoy/cluster/ratelimit.json with small
quotas in hour windows (a minute window could turn during a burst).

Every test uses its own subject, so no two tests share a counter. Everything
started here is stopped at the end of the module, also on failure.
"""
import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import harness
from checks import assert_denied, marker

QUOTA = 6            # per_user requests per hour
BUDGET = 5000        # daily_tokens per day
CLUSTER_YAML = harness.REPO / "envoy" / "cluster" / "replica-a.yaml"
RLS_CONFIG = harness.REPO / "envoy" / "cluster" / "ratelimit.json"
# Ports written in replica-a.yaml: listener, admin, mock upstream (twice: upstream and jwks), ratelimit.
LISTENER, ADMIN, UPSTREAM, RLS = 10100, 9911, 10101, 10102


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ratelimit_bin() -> Path:
    path = harness.token_binary().parent / "tollgate-ratelimit"
    if not path.exists():
        raise harness.HarnessError(f"no {path}: run `make ratelimit-bin` (make e2e does)")
    return path


def rls_limits() -> dict:
    """The demo's limits, smaller, plus the probe policies."""
    cfg = json.loads(RLS_CONFIG.read_text())
    for node in cfg["descriptors"]:
        if node["value"] == "per_user":
            node["descriptors"][0]["rate_limit"] = {"unit": "hour", "requests_per_unit": QUOTA}
        if node["value"] == "daily_tokens":
            for tier in node["descriptors"]:
                tier["descriptors"][0]["rate_limit"]["requests_per_unit"] = BUDGET
    for name, header in (("probe_open", "x-probe-open"), ("probe_closed", "x-probe-closed")):
        cfg["descriptors"].append({"key": "policy", "value": name, "descriptors": [
            {"key": header, "rate_limit": {"unit": "hour", "requests_per_unit": 1000}}]})
    return cfg


def plugin() -> dict:
    cfg = harness.plugin_config(CLUSTER_YAML.read_text())
    # The demo's 50 ms is for a real deployment; on a loaded 2-core test machine
    # the first calls (new HTTP/2 connections, a dev-build service) can take longer,
    # and a timeout here would be a 503, not the behaviour under test.
    cfg["rate_limit"]["global"]["timeout_ms"] = 1000
    cfg["rate_limit"]["policies"] += [
        {"name": "probe_open", "backend": "global", "key": [{"header": "x-probe-open"}], "fail_mode": "open"},
        {"name": "probe_closed", "backend": "global", "key": [{"header": "x-probe-closed"}]},
    ]
    return cfg


class Proc:
    """A background process with its log, stopped by pid."""

    def __init__(self, cmd, log: Path, ready_line: str | None = None):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE if ready_line else self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL, cwd=harness.REPO)
        if ready_line:
            line = self.proc.stdout.readline().decode()
            if not line.startswith(ready_line):
                self.stop()
                raise harness.HarnessError(f"{cmd[0]} did not start: {line!r}; log {log}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


class Cluster:
    def __init__(self, workdir: Path, minter):
        self.workdir = workdir
        self.minter = minter
        workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.rls_port = free_port()
        self.limits = workdir / "ratelimit.json"
        self.limits.write_text(json.dumps(rls_limits()))
        self.redis = self.rls = self.mock = None
        self.replicas = {}
        try:
            self.start_redis()
            self.start_rls()
            self.mock = harness.Mock(workdir)
            self.yaml = self.replica_yaml()
            for name in ("a", "b"):
                self.start_replica(name)
        except BaseException:
            self.stop()
            raise

    def start_redis(self):
        self.redis = Proc(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"], self.workdir / "redis.log")
        harness.wait_until(lambda: self._port_open(self.redis_port), timeout=10, what="redis")

    def start_rls(self):
        self.rls = Proc([str(ratelimit_bin()), "--config", str(self.limits), "--port", str(self.rls_port),
                         "--redis", f"127.0.0.1:{self.redis_port}"], self.workdir / "ratelimit.log", "LISTENING")

    @staticmethod
    def _port_open(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def replica_yaml(self) -> str:
        text = harness.with_plugin_config(CLUSTER_YAML.read_text(), plugin())
        text = harness._replace_port(text, LISTENER, 0)
        text = harness._replace_port(text, ADMIN, 0)
        text = harness._replace_port(text, UPSTREAM, self.mock.port, expect_min=2)
        text = harness._replace_port(text, RLS, self.rls_port)
        return text.replace(harness.WASM_IN_CONFIG, str(harness.wasm_path()))

    def start_replica(self, name: str):
        envoy = harness.Envoy(self.workdir / f"replica-{name}", self.yaml)
        self.replicas[name] = envoy
        envoy.wait_ready()

    def restart_replica(self, name: str):
        self.replicas[name].stop()
        self.start_replica(name)

    def stop(self):
        for envoy in self.replicas.values():
            envoy.stop()
        for p in (self.mock, self.rls, self.redis):
            if p is not None:
                p.stop()

    def get(self, name: str, token: str | None = None, headers=None, path="/v1/models") -> harness.Response:
        h = dict(headers or {})
        if token:
            h["authorization"] = f"Bearer {token}"
        h.setdefault("x-request-id", marker())
        return self.replicas[name].request("GET", path, h)

    def chat(self, name: str, token: str, request_id: str | None = None, **extra) -> harness.Response:
        body = {"model": "tollgate-mock-1", "messages": [{"role": "user", "content": "hello"}], **extra}
        # The mock answers past max_tokens, so the real usage can exceed the estimate.
        h = {"authorization": f"Bearer {token}", "x-request-id": request_id or marker(),
             "x-mock-ignore-max-tokens": "1"}
        return self.replicas[name].request("POST", "/v1/chat/completions", h, body)

    def stat(self, name: str, metric: str) -> int:
        out = 0
        text = harness.http_request(self.replicas[name].admin, "GET", "/stats", timeout=5).text()
        for line in text.splitlines():
            k, _, v = line.partition(": ")
            if k.strip() == metric and v.strip().isdigit():
                out = int(v)
        return out

    def audit(self, name: str, request_id: str) -> dict:
        def find():
            hits = [r for r in harness.audit_records(self.replicas[name].log_text())
                    if r.get("request_id") == request_id]
            return hits or None
        return harness.wait_until(find, timeout=5, what=f"audit line {request_id}")[0]


@pytest.fixture(scope="module")
def cluster(run_dir, minter):
    c = Cluster(run_dir / "global-limits", minter)
    yield c
    c.stop()
    for p in (c.redis, c.rls):
        assert p.proc.poll() is not None, "a cluster process was left running"


def remaining(resp: harness.Response, policy: str) -> int | None:
    m = re.search(rf'"{policy}";r=(\d+)', resp.header("ratelimit") or "")
    return int(m.group(1)) if m else None


def subject_token(cluster) -> str:
    return cluster.minter.mint(sub=f"gl-{marker()[:12]}")


def test_a_burst_split_across_replicas_admits_the_quota_once(cluster):
    token = subject_token(cluster)
    hour_before = int(time.time()) // 3600
    statuses = []
    for i in range(3 * QUOTA):
        statuses.append(cluster.get("ab"[i % 2], token))
    windows = int(time.time()) // 3600 - hour_before + 1
    admitted = [r for r in statuses if r.status == 200]
    assert QUOTA <= len(admitted) <= QUOTA * windows, [r.status for r in statuses]
    if windows == 1:
        assert [r.status for r in statuses[:QUOTA]] == [200] * QUOTA
        # One count for both replicas: each answer is one less than the one before.
        assert [remaining(r, "per_user") for r in statuses[:QUOTA]] == list(range(QUOTA - 1, -1, -1))
    for r in statuses[len(admitted):]:
        assert_denied(r, 429, "rate_limited")
        assert int(r.header("retry-after")) >= 1
    assert remaining(statuses[-1], "per_user") == 0 == remaining(statuses[-2], "per_user")


def test_a_token_budget_spent_on_one_replica_shows_on_the_other(cluster):
    token = subject_token(cluster)
    rid = marker()
    first = cluster.chat("a", token, request_id=rid, max_tokens=1)
    assert first.status == 200, first
    usage = first.json()["usage"]["total_tokens"]
    estimate = 2 + 1  # "hello": 5 bytes -> 2 prompt tokens, plus max_tokens
    assert usage > estimate, "the mock's answer must cost more than the estimate, to test the settle call"
    # The settle call (usage - estimate) is sent when the first stream ends.
    def second_sees_it():
        r = cluster.chat("b", token, max_tokens=1)
        left = remaining(r, "daily_tokens")
        return r if left is not None and left <= BUDGET - usage - estimate else None
    # Each probe spends its own estimate (and settles); the header must show A's usage.
    second = harness.wait_until(second_sees_it, timeout=5, what="replica B to see replica A's tokens")
    assert second.status == 200
    assert "daily_tokens" in (second.header("ratelimit-policy") or "")
    assert 'qu="tokens"' in second.header("ratelimit-policy")
    record = cluster.audit("a", rid)
    assert record["token_budget"]["global"] == "ok"
    assert record["token_budget"]["charged"] == usage


def test_restarting_a_replica_keeps_the_count(cluster):
    token = subject_token(cluster)
    for _ in range(3):
        assert cluster.get("b", token).status == 200
    cluster.restart_replica("b")
    r = cluster.get("b", token)
    assert r.status == 200
    assert remaining(r, "per_user") == QUOTA - 4


def probe(cluster, mode: str, replica="a") -> harness.Response:
    return cluster.get(replica, None, {f"x-probe-{mode}": marker()[:8]}, path="/healthz")


@pytest.mark.parametrize("outage", ["redis", "service", "stalled"])
def test_each_fail_mode_behaves_as_configured_and_recovers(cluster, outage):
    assert probe(cluster, "open").status == 200
    assert probe(cluster, "closed").status == 200
    before = {m: cluster.stat("a", f"wasmcustom.tollgate.rate_limit.global.{m}")
              for m in ("failed_open", "failed_closed")}
    proc = cluster.redis if outage == "redis" else cluster.rls
    if outage == "stalled":
        # The service accepts but never answers: the 50 ms timeout decides.
        proc.proc.send_signal(signal.SIGSTOP)
    else:
        proc.stop()
    try:
        rid = marker()
        r = cluster.get("a", None, {"x-probe-closed": "c1", "x-request-id": rid}, path="/healthz")
        assert_denied(r, 503, "rate_limit_unavailable")
        record = cluster.audit("a", rid)
        assert record["rate_limit"]["global"] == "failed_closed"
        assert record["rate_limit"]["global_failed"] == ("timeout" if outage == "stalled" else "grpc_status")
        rid = marker()
        r = cluster.get("a", None, {"x-probe-open": "o1", "x-request-id": rid}, path="/healthz")
        assert r.status == 200, r
        assert cluster.audit("a", rid)["rate_limit"]["global"] == "failed_open"
        assert cluster.stat("a", "wasmcustom.tollgate.rate_limit.global.failed_closed") == before["failed_closed"] + 1
        assert cluster.stat("a", "wasmcustom.tollgate.rate_limit.global.failed_open") == before["failed_open"] + 1
    finally:
        if outage == "stalled":
            proc.proc.send_signal(signal.SIGCONT)
        elif outage == "redis":
            cluster.start_redis()
        else:
            cluster.start_rls()
    # Back: the closed policy admits again, and the service counts.
    r = harness.wait_until(lambda: (lambda x: x if x.status == 200 else None)(probe(cluster, "closed")),
                           timeout=10, what="recovery")
    assert remaining(r, "probe_closed") is not None
