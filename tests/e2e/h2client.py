"""A minimal HTTP/2 (h2c, prior knowledge) client over the `h2` package.

It writes a request's frames exactly as a test asks: HEADERS, DATA and
trailers in one socket write, the shape that used to walk past the filter
while it waited for a JWKS fetch (issue 11, F1). Only what the tests need.
"""
from __future__ import annotations

import socket
import urllib.parse
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events


@dataclass
class H2Response:
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False


def request(base_url: str, method: str, path: str, headers: dict, body: bytes = b"",
            trailers: dict | None = None, timeout: float = 15.0) -> H2Response:
    """One request on a fresh h2c connection; the whole request goes out in one write."""
    url = urllib.parse.urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    try:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        sid = conn.get_next_available_stream_id()
        pseudo = [(":method", method), (":path", path), (":scheme", "http"),
                  (":authority", url.netloc)]
        conn.send_headers(sid, pseudo + [(k.lower(), v) for k, v in headers.items()],
                          end_stream=not body and not trailers)
        if body:
            conn.send_data(sid, body, end_stream=not trailers)
        if trailers:
            conn.send_headers(sid, [(k.lower(), v) for k, v in trailers.items()], end_stream=True)
        sock.sendall(conn.data_to_send())
        out = H2Response()
        done = False
        while not done:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                if getattr(event, "stream_id", None) != sid:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    out.headers = dict(event.headers)
                    out.status = int(out.headers.get(":status", "0"))
                elif isinstance(event, h2.events.DataReceived):
                    out.body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, sid)
                elif isinstance(event, h2.events.StreamEnded):
                    done = True
                elif isinstance(event, h2.events.StreamReset):
                    out.reset = True
                    done = True
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)
        return out
    finally:
        sock.close()
