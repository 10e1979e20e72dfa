"""The demo's HTTPS listener through the real Envoy (issue 18).

`envoy/envoy.yaml` serves the same filter chain on a second listener with TLS
1.3 only and ALPN h2 + http/1.1. Its certificate is the TEST-ONLY one that
`make demo-tls` makes (envoy/demo/tls/, not committed); clients here trust
only that demo CA.
"""
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import urllib.parse

import h2.config
import h2.connection
import h2.events
import pytest

import harness
from checks import marker

CHAT = {"model": "tollgate-mock-1", "messages": [{"role": "user", "content": "hello over tls"}]}


def tls_address(stack):
    assert stack.envoy.tls_url, "the demo has no HTTPS listener"
    url = urllib.parse.urlsplit(stack.envoy.tls_url)
    return url.hostname, url.port


def context(max_version=None, alpn=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(harness.DEMO_CA))
    if max_version is not None:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def test_tls12_only_client_fails_the_handshake(stack):
    host, port = tls_address(stack)
    ctx = context(max_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection((host, port), timeout=5) as sock:
        with pytest.raises(ssl.SSLError) as err:
            with ctx.wrap_socket(sock, server_hostname=host):
                pass
    # OpenSSL names the alert Envoy sent: no protocol version in common.
    assert "VERSION" in str(err.value).upper() or "ALERT" in str(err.value).upper(), err.value


def test_tls13_client_works_over_http11(stack):
    host, port = tls_address(stack)
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=context(alpn=["http/1.1"]))
    try:
        token = stack.mint(alg="HS256")
        conn.request("POST", "/v1/chat/completions", body=json.dumps(CHAT),
                     headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        assert conn.sock.version() == "TLSv1.3"
        assert conn.sock.selected_alpn_protocol() == "http/1.1"
        assert resp.status == 200, body
        assert resp.getheader("x-mock-upstream") == "1"
        assert json.loads(body)["choices"][0]["message"]["content"] == "hello over tls"
        # The filter runs on this listener too: no token, refused.
        conn.request("POST", "/v1/chat/completions", body=json.dumps(CHAT),
                     headers={"content-type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 401
        assert json.loads(resp.read())["error"]["code"] == "jwt_missing"
    finally:
        conn.close()


def h2_request(host, port, method, path, headers=(), body=b"") -> tuple:
    """One request over HTTP/2 (ALPN h2), with the `h2` package; returns (status, headers, body, tls version)."""
    with socket.create_connection((host, port), timeout=10) as raw:
        with context(alpn=["h2"]).wrap_socket(raw, server_hostname=host) as sock:
            assert sock.selected_alpn_protocol() == "h2"
            version = sock.version()
            conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
            conn.initiate_connection()
            sid = conn.get_next_available_stream_id()
            request_headers = [(":method", method), (":path", path), (":scheme", "https"),
                               (":authority", f"{host}:{port}"), *headers]
            if body:
                request_headers.append(("content-length", str(len(body))))
            conn.send_headers(sid, request_headers, end_stream=not body)
            if body:
                conn.send_data(sid, body, end_stream=True)
            sock.sendall(conn.data_to_send())
            status, response_headers, data, done = None, [], b"", False
            while not done:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == sid:
                        response_headers = [(k.decode() if isinstance(k, bytes) else k,
                                             v.decode() if isinstance(v, bytes) else v) for k, v in event.headers]
                        status = int(dict(response_headers)[":status"])
                    elif isinstance(event, h2.events.DataReceived) and event.stream_id == sid:
                        data += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, sid)
                    elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)) and event.stream_id == sid:
                        done = True
                sock.sendall(conn.data_to_send())
            return status, dict(response_headers), data, version


def test_tls13_client_works_over_h2(stack):
    host, port = tls_address(stack)
    token = stack.mint(alg="HS256")
    tag = marker()
    status, headers, body, version = h2_request(
        host, port, "POST", "/v1/chat/completions",
        [("authorization", f"Bearer {token}"), ("content-type", "application/json"), ("x-test-id", tag)],
        json.dumps(CHAT).encode())
    assert version == "TLSv1.3"
    assert status == 200, body
    assert headers.get("x-mock-upstream") == "1"
    assert json.loads(body)["choices"][0]["message"]["content"] == "hello over tls"
    assert len(stack.mock.find_requests(tag)) == 1
    # Refusals are the filter's over h2 as well.
    status, _, body, _ = h2_request(host, port, "GET", "/v1/nothing-here")
    assert status == 404 and json.loads(body)["error"]["code"] == "route_not_found"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_tls13_works_and_tls_max_12_fails(stack):
    host, port = tls_address(stack)
    url = f"https://{host}:{port}/healthz"
    ok = subprocess.run(["curl", "-sS", "--tlsv1.3", "--cacert", str(harness.DEMO_CA), "-o", "/dev/null",
                         "-w", "%{http_code} %{http_version}", url], capture_output=True, text=True, timeout=20)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split()[0] == "200", ok.stdout
    refused = subprocess.run(["curl", "-sS", "--tls-max", "1.2", "--cacert", str(harness.DEMO_CA), url],
                             capture_output=True, text=True, timeout=20)
    # 35: SSL connect error (the handshake failed).
    assert refused.returncode == 35, (refused.returncode, refused.stderr)


@pytest.fixture(scope="module")
def tls_only(run_dir, minter):
    """The demo with `require_tls` (TLSv1.3) on the chat route."""
    cfg = harness.plugin_config(harness.demo_yaml())
    next(r for r in cfg["routes"] if r["name"] == "chat")["require_tls"] = {"min_version": "TLSv1.3"}
    s = harness.start_stack(run_dir / "tls-only", minter, plugin=cfg)
    yield s
    s.stop()


def test_plaintext_is_refused_on_a_require_tls_route_and_counted(tls_only):
    token = tls_only.mint(alg="HS256")
    tag = marker()
    before = tls_only.stat("wasmcustom.tollgate.tls.refused.route.chat")
    r = tls_only.request("POST", "/v1/chat/completions", token, {"x-test-id": tag}, CHAT)
    assert r.status == 403, r
    error = r.json()["error"]
    assert error["code"] == "tls_required" and error["type"] == "permission_error", r
    assert "TLSv1.3" in error["message"] and "plaintext" in error["message"], r
    assert tls_only.mock.find_requests(tag) == []
    harness.wait_until(lambda: tls_only.stat("wasmcustom.tollgate.tls.refused.route.chat") == before + 1,
                       timeout=5, what="the tls refusal counter")
    assert 'tollgate_tls_refused{route="chat"}' in tls_only.prometheus()
    # Routes without the option still take plaintext.
    assert tls_only.request("GET", "/healthz").status == 200


def test_the_same_route_over_tls13_is_admitted(tls_only):
    host, port = tls_address(tls_only)
    conn = http.client.HTTPSConnection(host, port, timeout=10, context=context())
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(CHAT),
                     headers={"authorization": f"Bearer {tls_only.mint(alg='HS256')}",
                              "content-type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        assert resp.getheader("x-mock-upstream") == "1"
    finally:
        conn.close()


def test_an_unknown_min_version_is_refused_naming_the_field(workdir):
    cfg = harness.plugin_config(harness.demo_yaml())
    next(r for r in cfg["routes"] if r["name"] == "chat")["require_tls"] = {"min_version": "TLSv1.4"}
    done = harness.validate(workdir, harness.with_plugin_config(harness.demo_yaml(), cfg))
    assert done.returncode != 0
    assert "routes[1].require_tls.min_version" in done.stdout + done.stderr, done.stdout + done.stderr
