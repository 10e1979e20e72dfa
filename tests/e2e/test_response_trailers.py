"""Response trailers end the body too (issue 11: the response-side twin of F1).

Over HTTP/2 (or HTTP/1.1 chunked with trailers enabled) an upstream can end
its body with trailers instead of a last DATA frame with end of stream. The
filter holds a JSON answer whole to redact it; before the response-trailers
callback, Envoy's default `Continue` at the trailers released the held body
as it was, unredacted. These tests run an upstream that always sends
trailers, behind a route the plugin redacts.
"""
import json
import socket
import socketserver
import threading

import pytest

import harness

CARD = "4111 1111 1111 1111"
EMAIL = "alice.smith@example.com"


class _Handler(socketserver.StreamRequestHandler):
    """HTTP/1.1: reads one request, answers chunked with a trailer."""

    def handle(self):
        try:
            self._handle()
        except OSError:
            pass

    def _handle(self):
        request_line = self.rfile.readline().decode("latin-1")
        if not request_line:
            return
        path = request_line.split(" ")[1]
        length = 0
        while True:
            line = self.rfile.readline().decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        if length:
            self.rfile.read(length)
        if path.startswith("/trailers/json"):
            answer = {"id": "chatcmpl-t", "object": "chat.completion", "model": "tollgate-mock-1",
                      "choices": [{"index": 0, "message": {"role": "assistant",
                                  "content": f"Write to {EMAIL}, card {CARD}."},
                                  "finish_reason": "stop"}]}
            text = json.dumps(answer).encode()
            half = len(text) // 2
            chunks, ctype = [text[:half], text[half:]], "application/json"
        else:
            words = f"Write to {EMAIL}, card {CARD}. Thanks for asking, have a good day.".split(" ")
            chunks = []
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                event = {"id": "c", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}}]}
                chunks.append(f"data: {json.dumps(event)}\n\n".encode())
            chunks.append(b"data: [DONE]\n\n")
            ctype = "text/event-stream"
        head = ("HTTP/1.1 200 OK\r\n"
                f"content-type: {ctype}\r\n"
                "transfer-encoding: chunked\r\n"
                "trailer: x-checksum\r\n"
                "connection: close\r\n\r\n").encode()
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
        self.wfile.write(head + body + b"0\r\nx-checksum: abc\r\n\r\n")
        self.wfile.flush()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


@pytest.fixture
def trailer_upstream():
    server = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _yaml_with_trailer_route(port: int) -> str:
    text = harness.demo_yaml()
    # An Envoy route and cluster for the trailer-sending upstream, with
    # trailers enabled on the upstream HTTP/1.1 codec.
    route_anchor = '              - match: { prefix: "/" }\n'
    assert route_anchor in text
    text = text.replace(route_anchor,
                        '              - match: { prefix: "/trailers" }\n'
                        '                route: { cluster: trailers, timeout: 10s }\n' + route_anchor, 1)
    cluster_anchor = "  - name: upstream\n    type: STATIC\n"
    assert cluster_anchor in text
    cluster = (
        "  - name: trailers\n"
        "    type: STATIC\n"
        "    connect_timeout: 2s\n"
        "    typed_extension_protocol_options:\n"
        "      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n"
        '        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n'
        "        explicit_http_config:\n"
        "          http_protocol_options: { enable_trailers: true }\n"
        "    load_assignment:\n"
        "      cluster_name: trailers\n"
        "      endpoints:\n"
        "      - lb_endpoints:\n"
        "        - endpoint:\n"
        "            address:\n"
        f"              socket_address: {{ address: 127.0.0.1, port_value: {port} }}\n"
    )
    text = text.replace(cluster_anchor, cluster + cluster_anchor, 1)
    cfg = harness.plugin_config(text)
    cfg["routes"].insert(0, {"name": "trailers", "match": {"prefix": "/trailers"}, "auth": "none"})
    return harness.with_plugin_config(text, cfg)


@pytest.fixture
def trailer_stack(new_stack, trailer_upstream):
    return new_stack(yaml_text=_yaml_with_trailer_route(trailer_upstream))


def test_a_held_json_answer_ending_in_trailers_is_redacted(trailer_stack):
    r = trailer_stack.request("GET", "/trailers/json")
    assert r.status == 200, (r.status, r.body[:300])
    assert EMAIL.encode() not in r.body and b"4111" not in r.body, r.body
    answer = json.loads(r.body)  # still one valid JSON document
    content = answer["choices"][0]["message"]["content"]
    assert content.startswith("Write to "), content


def test_a_streamed_answer_ending_in_trailers_leaks_nothing(trailer_stack):
    r = trailer_stack.request("GET", "/trailers/sse")
    assert r.status == 200, (r.status, r.body[:300])
    assert EMAIL.encode() not in r.body and b"4111" not in r.body, r.body
    assert b"alice.smith" not in r.body
    # Everything before the redaction window's tail arrived.
    assert b"Write" in r.body, r.body
