"""Helpers for the hostile-input and soak tests (issue 8), on top of harness.py.

python3 stdlib only (plus the `openssl` command line for an attacker's EC key).

- `ScriptedUpstream`: a socket-level HTTP/1.1 upstream that plays back raw
  response bytes chunk by chunk (SSE split inside `data:`, CRLF and LF mixed,
  an answer that never ends), for what the demo mock cannot do.
- `start_custom_stack`: the demo mock plus an Envoy whose `upstream` cluster
  may point at a `ScriptedUpstream`, and whose YAML may carry extra filters.
- `corrupter_wasm`: a hand-assembled Proxy-Wasm module (no compiler needed)
  that writes garbage into chosen shared-data keys of its `vm_id` when its VM
  starts: a real way to make the filter meet corrupt rate-limit state.
- Process and admin probes: Envoy's RSS, its `/stats` counters.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import harness
from harness import KEYS

# ---------------------------------------------------------------------------
# Tokens, hand-made
# ---------------------------------------------------------------------------


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return harness.b64url(data)


def raw_token(header: str | bytes | dict, payload: str | bytes | dict, signature: bytes | str = b"") -> str:
    """A compact token from raw JSON text (so duplicate keys survive) and a raw signature."""
    def enc(part):
        if isinstance(part, dict):
            part = json.dumps(part)
        return b64(part)
    sig = signature if isinstance(signature, str) else b64(signature)
    return f"{enc(header)}.{enc(payload)}.{sig}"


def hs256_raw(header: str | bytes | dict, payload: str | bytes | dict, secret: bytes | None = None) -> str:
    """HS256 over raw header and payload JSON text."""
    signing_input = raw_token(header, payload).rstrip(".")
    mac = hmac.new(secret if secret is not None else harness.hs256_secret(), signing_input.encode(), hashlib.sha256)
    return signing_input + "." + b64(mac.digest())


HS_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "demo-hs256"}


def openssl() -> str | None:
    return shutil.which("openssl")


def ec_keypair(workdir: Path) -> tuple[Path, dict]:
    """An attacker's P-256 key: (private PEM path, public JWK)."""
    key = workdir / "attacker-es256.pem"
    subprocess.run([openssl(), "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
                   check=True, capture_output=True)
    der = subprocess.run([openssl(), "ec", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    point = der[-65:]  # SubjectPublicKeyInfo ends with the uncompressed point 04 || x || y
    assert point[0] == 4
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
    return key, jwk


def _der_to_raw(der: bytes, size: int = 32) -> bytes:
    """An ECDSA DER signature (SEQUENCE { INTEGER r, INTEGER s }) as r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        length = der[i + 1]
        value = der[i + 2:i + 2 + length].lstrip(b"\x00")
        out += value.rjust(size, b"\x00")
        i += 2 + length
    return out


def es256_sign(key: Path, header: dict, payload: dict) -> str:
    """An ES256 token signed with `key` by openssl."""
    signing_input = b64(json.dumps(header)) + "." + b64(json.dumps(payload))
    der = subprocess.run([openssl(), "dgst", "-sha256", "-sign", str(key)], input=signing_input.encode(),
                         check=True, capture_output=True).stdout
    return signing_input + "." + b64(_der_to_raw(der))


# P-256 group order: an ECDSA r or s equal to it is as invalid as zero.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


# ---------------------------------------------------------------------------
# A scripted upstream
# ---------------------------------------------------------------------------


class Request:
    def __init__(self, method: str, path: str, headers: dict, body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body


class ScriptedUpstream:
    """HTTP/1.1 on 127.0.0.1:<free port>; the `x-hostile-script` request header picks a script.

    A script is `fn(upstream, conn, request) -> bool` (keep the connection
    alive?). Scripts are registered by tests in this process (`scripts[name]`).
    `events` records what happened (e.g. that a never-ending stream was cut).
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.scripts = {"ok": _ok_script}
        self.events: list = []
        self.lock = threading.Lock()
        self._stopped = threading.Event()
        self._conns: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def note(self, event) -> None:
        with self.lock:
            self.events.append(event)

    def _accept(self):
        while not self._stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        reader = conn.makefile("rb")
        try:
            while not self._stopped.is_set():
                req = _read_request(reader)
                if req is None:
                    return
                script = self.scripts.get(req.headers.get("x-hostile-script", "ok"), _ok_script)
                if not script(self, conn, req):
                    return
        except OSError:
            return
        finally:
            try:
                reader.close()
                conn.close()
            except OSError:
                pass

    def stop(self):
        self._stopped.set()
        self.sock.close()
        with self.lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass


def _read_request(reader) -> Request | None:
    line = reader.readline(65536)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while True:
        h = reader.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(reader.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += reader.read(size)
            reader.readline(1024)
    elif headers.get("content-length"):
        body = reader.read(int(headers["content-length"]))
    return Request(method, path, headers, body)


def send_head(conn: socket.socket, content_type: str, status: str = "200 OK") -> None:
    conn.sendall((f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n"
                  "x-scripted-upstream: 1\r\n\r\n").encode())


def send_chunk(conn: socket.socket, data: bytes) -> None:
    conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def send_end(conn: socket.socket) -> None:
    conn.sendall(b"0\r\n\r\n")


def _ok_script(_up, conn, _req) -> bool:
    body = b'{"ok":true}'
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                 b"x-scripted-upstream: 1\r\n\r\n%s" % (len(body), body))
    return True


def echo_script(up, conn, req) -> bool:
    """A fast echo model: chat completions answer the last user message (JSON or SSE,
    one `sendall` each, so no Nagle/delayed-ACK stalls); anything else is `ok`."""
    if req.method != "POST" or not req.path.startswith("/v1/chat/completions"):
        return _ok_script(up, conn, req)
    try:
        doc = json.loads(req.body)
        text = next((m.get("content") for m in reversed(doc.get("messages", []))
                     if isinstance(m, dict) and m.get("role") == "user"), "")
        text = text if isinstance(text, str) else ""
    except (ValueError, AttributeError):
        text, doc = "", {}
    usage = {"prompt_tokens": len(text) // 4 + 1, "completion_tokens": len(text) // 4 + 1,
             "total_tokens": 2 * (len(text) // 4 + 1)}
    if not doc.get("stream"):
        body = json.dumps({"id": "chatcmpl-echo", "object": "chat.completion", "created": 1, "model": "m",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                        "finish_reason": "stop"}], "usage": usage}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                     b"x-scripted-upstream: 1\r\n\r\n%s" % (len(body), body))
        return True
    out = [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
           b"x-scripted-upstream: 1\r\n\r\n"]
    events = [b"data: " + chat_chunk(text[i:i + 8]) + b"\n\n" for i in range(0, len(text), 8)]
    events.append(b"data: " + chat_chunk("", "stop") + b"\n\n")
    events.append(b"data: " + json.dumps({"id": "chatcmpl-echo", "object": "chat.completion.chunk",
                                          "choices": [], "usage": usage}).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    for e in events:
        out.append(b"%x\r\n%s\r\n" % (len(e), e))
    out.append(b"0\r\n\r\n")
    conn.sendall(b"".join(out))
    return True


def chunks_script(content_type: str, chunks: list, gap_s: float = 0.02):
    """A script sending `chunks` (bytes), each as its own HTTP chunk, `gap_s` apart."""
    def run(_up, conn, _req) -> bool:
        send_head(conn, content_type)
        for piece in chunks:
            send_chunk(conn, piece)
            time.sleep(gap_s)
        send_end(conn)
        return True
    return run


def forever_script(content_type: str, piece: bytes, gap_s: float = 0.002, name: str = "forever"):
    """A script that streams `piece` over and over until the connection breaks."""
    def run(up, conn, _req) -> bool:
        send_head(conn, content_type)
        sent = 0
        started = time.monotonic()
        try:
            while True:
                send_chunk(conn, piece)
                sent += len(piece)
                if gap_s:
                    time.sleep(gap_s)
        except OSError:
            up.note({"script": name, "ended": "connection closed", "bytes": sent,
                     "seconds": round(time.monotonic() - started, 2)})
            return False
    return run


# ---------------------------------------------------------------------------
# SSE, parsed the way the spec says (CRLF, LF or CR end a line)
# ---------------------------------------------------------------------------


def sse_events(body: bytes) -> list:
    """Events of an SSE stream as dicts {"event": ..., "data": ...} (data joined by \\n)."""
    text = body.decode("utf-8")
    lines = re.split(r"\r\n|\r|\n", text)
    events, data, name = [], [], None
    for line in lines:
        if line == "":
            if data:
                events.append({"event": name, "data": "\n".join(data)})
            data, name = [], None
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if data:
        events.append({"event": name, "data": "\n".join(data), "unterminated": True})
    return events


def chat_chunk(content: str, finish=None) -> bytes:
    return json.dumps({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]},
                      separators=(",", ":")).encode()


# ---------------------------------------------------------------------------
# Stacks with a custom upstream or extra filters
# ---------------------------------------------------------------------------


def point_upstream_cluster(yaml_text: str, port: int) -> str:
    """Rewrites the port of the `upstream` cluster only (the `jwks` cluster keeps the mock)."""
    marker = "- name: upstream\n"
    start = yaml_text.index(marker)
    end = yaml_text.index("- name: jwks", start)
    block = re.sub(r"port_value:\s*\d+", f"port_value: {port}", yaml_text[start:end], count=1)
    return yaml_text[:start] + block + yaml_text[end:]


def start_custom_stack(workdir: Path, minter: harness.Minter, plugin: dict | None = None,
                       upstream_port: int | None = None, edit_yaml=None, concurrency: int = 2) -> harness.Stack:
    """The demo mock and an Envoy; the `upstream` cluster may go to another port.

    `edit_yaml(text) -> text` runs last, on the final YAML (ports already free).
    """
    mock = harness.Mock(workdir)
    try:
        text = harness.demo_yaml()
        if plugin is not None:
            text = harness.with_plugin_config(text, plugin)
        text = harness.free_port_yaml(text, mock.port, harness.wasm_path())
        if upstream_port is not None:
            text = point_upstream_cluster(text, upstream_port)
        if edit_yaml is not None:
            text = edit_yaml(text)
        envoy = harness.Envoy(workdir, text, concurrency=concurrency)
        envoy.wait_ready()
    except BaseException:
        mock.stop()
        raise
    return harness.Stack(mock, envoy, minter)


def demo_plugin() -> dict:
    return harness.plugin_config(harness.demo_yaml())


# ---------------------------------------------------------------------------
# Envoy process and admin probes
# ---------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise harness.HarnessError(f"no VmRSS for pid {pid}")


def stats(admin: str, flt: str = "") -> dict:
    """Envoy's counters and gauges as {name: int} (histograms left out)."""
    path = "/stats" + (f"?filter={flt}" if flt else "")
    out = {}
    for line in harness.http_request(admin, "GET", path, timeout=5).text().splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name] = int(value)
    return out


def vm_stats(admin: str) -> dict:
    """The Wasm runtime's own stats: VMs created, active, and any failures."""
    return {k: v for k, v in stats(admin, "wasm").items() if not k.startswith("wasmcustom.")}


def counter(admin: str, name: str) -> int:
    return stats(admin, re.escape(name) + "$").get(name, 0)


# ---------------------------------------------------------------------------
# A hand-assembled Proxy-Wasm module that corrupts shared data
# ---------------------------------------------------------------------------


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _vec(items: list) -> bytes:
    return _leb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _leb(len(payload)) + payload


def corrupter_wasm(keys: list, value: bytes = b"garbage!") -> bytes:
    """A Proxy-Wasm (ABI 0.2.1) module that sets each of `keys` to `value` in
    shared data, with cas 0, in `proxy_on_vm_start`. It exports the minimum a
    host needs (memory, allocator, context create, vm start, configure) and
    otherwise lets every stream continue.
    """
    I32 = 0x7F
    types = [
        b"\x60" + _vec([bytes([I32])] * 5) + _vec([bytes([I32])]),   # 0: set_shared_data
        b"\x60" + _vec([]) + _vec([]),                                # 1: () -> ()
        b"\x60" + _vec([bytes([I32])] * 2) + _vec([]),                # 2: (i32, i32) -> ()
        b"\x60" + _vec([bytes([I32])] * 2) + _vec([bytes([I32])]),    # 3: (i32, i32) -> i32
        b"\x60" + _vec([bytes([I32])]) + _vec([bytes([I32])]),        # 4: (i32) -> i32
    ]
    imports = [_name("env") + _name("proxy_set_shared_data") + b"\x00" + _leb(0)]
    # Functions (index 0 is the import): 1 abi marker, 2 context create, 3 vm start, 4 configure, 5 allocate.
    funcs = [_leb(1), _leb(2), _leb(3), _leb(3), _leb(4)]
    memory = [b"\x00" + _leb(4)]  # 4 pages, no maximum
    exports = [
        _name("memory") + b"\x02" + _leb(0),
        _name("proxy_abi_version_0_2_1") + b"\x00" + _leb(1),
        _name("proxy_on_context_create") + b"\x00" + _leb(2),
        _name("proxy_on_vm_start") + b"\x00" + _leb(3),
        _name("proxy_on_configure") + b"\x00" + _leb(4),
        _name("proxy_on_memory_allocate") + b"\x00" + _leb(5),
        _name("malloc") + b"\x00" + _leb(5),
    ]
    # Data: the value at 1024, then the keys.
    value_at = 1024
    data = [(value_at, value)]
    at = value_at + len(value) + 16
    placed = []
    for key in keys:
        raw = key.encode()
        data.append((at, raw))
        placed.append((at, len(raw)))
        at += len(raw) + 1
    if at > 65536:
        raise ValueError("too many keys for the corrupter's first page")

    def i32(n):
        return b"\x41" + _sleb(n)

    vm_start = b""
    for ptr, length in placed:
        vm_start += i32(ptr) + i32(length) + i32(value_at) + i32(len(value)) + i32(0) + b"\x10" + _leb(0) + b"\x1a"
    vm_start += i32(1)
    bodies = [
        b"",                 # abi marker: nothing
        b"",                 # context create: nothing
        vm_start,            # vm start: write the garbage, return true
        i32(1),              # configure: true
        i32(32768),          # allocate: a fixed scratch area (the host never asks for more here)
    ]
    code = [_leb(len(b"\x00" + body + b"\x0b")) + b"\x00" + body + b"\x0b" for body in bodies]
    segments = [b"\x00" + i32(offset) + b"\x0b" + _leb(len(raw)) + raw for offset, raw in data]
    return (b"\x00asm\x01\x00\x00\x00"
            + _section(1, _vec(types)) + _section(2, _vec(imports)) + _section(3, _vec(funcs))
            + _section(5, _vec(memory)) + _section(7, _vec(exports)) + _section(10, _vec(code))
            + _section(11, _vec(segments)))


def corrupter_filter_yaml(wasm_file: Path, vm_id: str = "tollgate") -> str:
    """An http_filters list entry (indented for the demo YAML) running the corrupter."""
    return f"""          - name: corrupter
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: corrupter
                root_id: corrupter
                vm_config:
                  vm_id: {vm_id}
                  runtime: envoy.wasm.runtime.v8
                  code:
                    local:
                      filename: {wasm_file}
"""


def insert_filter_first(yaml_text: str, entry: str) -> str:
    marker = "          http_filters:\n"
    if marker not in yaml_text:
        raise harness.HarnessError("no http_filters list in the Envoy YAML")
    return yaml_text.replace(marker, marker + entry, 1)


# ---------------------------------------------------------------------------
# Raw client connections
# ---------------------------------------------------------------------------


class RawClient:
    """One client connection (so one Envoy worker), with its own reader for keep-alive reuse."""

    def __init__(self, url: str, timeout: float = 15.0):
        host, port = url.rsplit("//", 1)[1].split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, headers: dict | None = None, body: bytes | None = None) -> harness.Response:
        head = f"{method} {path} HTTP/1.1\r\nhost: tollgate.test\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding") for k in (headers or {})):
            head += f"content-length: {len(body)}\r\n"
        self.sock.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        return self.read_response()

    def read_head(self) -> tuple:
        status_line = self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        status = int(status_line.split()[1])
        headers = []
        while True:
            h = self.reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return status, headers

    def read_chunk(self) -> bytes | None:
        """The next chunk of a chunked body, or None at its end."""
        size = int(self.reader.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            self.reader.readline()
            return None
        data = self.reader.read(size)
        self.reader.readline()
        return data

    def read_response(self) -> harness.Response:
        status, headers = self.read_head()
        hmap = dict(headers)
        body = b""
        if "chunked" in hmap.get("transfer-encoding", ""):
            while (piece := self.read_chunk()) is not None:
                body += piece
        elif "content-length" in hmap:
            body = self.reader.read(int(hmap["content-length"]))
        return harness.Response(status, headers, body)

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def b64std(data: bytes) -> str:
    return base64.b64encode(data).decode()
