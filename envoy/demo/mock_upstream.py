#!/usr/bin/env python3
"""A mock OpenAI-compatible upstream for the Tollgate demo and the real-Envoy tests.

python3 stdlib only. HTTP/1.1 with keep-alive (Envoy talks HTTP/1.1 to its
upstreams); streamed answers use chunked transfer encoding, one event per chunk.

The "model" echoes the last user message back, so a test can make it say
anything. Usage counts are ceil(characters / 4).

    python3 envoy/demo/mock_upstream.py [--port 10001] [--jwks FILE] [--quiet]

`--port 0` picks a free port. The first line on stdout is always
`LISTENING <port>`, flushed, so a test harness can read the port.

Request headers a test may send (they pass through Envoy to here):
    x-mock-status: N       answer with status N and an OpenAI-style error body
    x-mock-chunk-chars: N  characters per streamed delta (default 4)
    x-mock-delay-ms: N     pause between streamed events (default 0)
    x-mock-repeat: N       the answer is the echoed text repeated N times (default 1;
                           at most 16 MiB of answer), for large responses
    x-mock-shape: NAME     (chat completions) answer in another shape, for the redaction
                           tests: function_call | audio | content_parts | logprobs
                           (streamed when the request says stream), ndjson (an
                           Ollama-style application/x-ndjson stream), octet
                           (application/octet-stream), invalid_json (a truncated
                           JSON body that writes `@` as `\u0040`)
    x-mock-ignore-max-tokens: 1  answer past max_tokens / max_completion_tokens /
                           max_output_tokens (otherwise honoured, 4 characters a token)
    x-mock-content-encoding: gzip
                           gzip the whole response body (JSON or SSE) and say so in
                           `content-encoding`, as an upstream that ignored
                           `accept-encoding: identity` would

Test hooks (never routed by the demo policy, so only reachable directly):
    POST   /__admin/jwks      body replaces the served JWKS in memory
    PUT    /__admin/jwks-delay  body N: answer JWKS fetches N ms late (a slow issuer)
    DELETE /__admin/jwks      serve the --jwks file again
    GET    /__admin/requests  the last requests: method, path, headers, body size
    DELETE /__admin/requests  forget them
    GET    /__admin/stats     {"jwks_fetches": N, "requests": N}
"""
import argparse
import collections
import gzip
import hashlib
import json
import math
import os
import sys
import threading
import time
import uuid
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DEFAULT_JWKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keys", "jwks.json")
MODEL = "tollgate-mock-1"
MODELS = ["tollgate-mock-1", "tollgate-mock-embed-1"]
EMBEDDING_DIMS = 8
MAX_BODY = 16 * 1024 * 1024
MAX_ANSWER = 16 * 1024 * 1024
REQUEST_LOG_SIZE = 500


class BadRequest(Exception):
    """The request body could not be used; answered with 400."""


class State:
    """What the test hooks read and change. Shared by every handler thread."""

    def __init__(self, jwks_path: str):
        self.lock = threading.Lock()
        self.jwks_path = jwks_path
        self.jwks_override = None  # bytes, set by POST /__admin/jwks
        self.jwks_fetches = 0
        self.jwks_delay_ms = 0  # set by PUT /__admin/jwks-delay: a slow issuer
        self.requests_total = 0
        self.requests = collections.deque(maxlen=REQUEST_LOG_SIZE)

    def record(self, entry: dict) -> None:
        with self.lock:
            self.requests_total += 1
            self.requests.append(entry)

    def jwks(self) -> bytes:
        with self.lock:
            self.jwks_fetches += 1
            override = self.jwks_override
        if override is not None:
            return override
        # Re-read on every request, so a test can swap the file to rotate keys.
        with open(self.jwks_path, "rb") as f:
            return f.read()


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def text_of(content) -> str:
    """Text of a message's content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def last_user_text(messages) -> str:
    if not isinstance(messages, list):
        raise BadRequest("`messages` must be an array")
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def all_text(messages) -> str:
    return "".join(text_of(m.get("content")) for m in messages if isinstance(m, dict))


def responses_input_text(value) -> str:
    """Text of a Responses API `input`: a string or a list of message items."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and item.get("role", "user") == "user":
                return text_of(item.get("content"))
    return ""


def embedding(text: str) -> list:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round((b - 127.5) / 127.5, 6) for b in digest[:EMBEDDING_DIMS]]


def pieces(text: str, size: int) -> list:
    return [text[i:i + size] for i in range(0, len(text), size)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tollgate-mock/1"
    state: State = None  # set by main()
    quiet = False

    # ---- plumbing -------------------------------------------------------------

    def log_message(self, fmt, *args):  # noqa: N802 (stdlib name)
        if not self.quiet:
            sys.stderr.write("mock_upstream: %s\n" % (fmt % args))

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self.read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            raise BadRequest("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def read_chunked(self) -> bytes:
        # Envoy sends chunked bodies when a filter removed Content-Length.
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # CRLF after the chunk
            if len(body) > MAX_BODY:
                raise BadRequest("body too large")

    def send(self, status: int, body: bytes, content_type: str = "application/json", headers=()) -> None:
        encoding = self.content_encoding()
        if encoding:
            body = gzip.compress(body)
        self.send_response(status)
        self.send_header("content-type", content_type)
        if encoding:
            self.send_header("content-encoding", encoding)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-mock-upstream", "1")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, value, headers=()) -> None:
        self.send(status, json.dumps(value, separators=(",", ":")).encode("utf-8"), "application/json", headers)

    def send_error_json(self, status: int, message: str, code: str) -> None:
        kind = "invalid_request_error" if status < 500 else "api_error"
        self.send_json(status, {"error": {"message": message, "type": kind, "code": code}})

    def content_encoding(self) -> str:
        """`gzip` when the test asked for a compressed answer, else ""."""
        return "gzip" if self.headers.get("x-mock-content-encoding", "").strip().lower() == "gzip" else ""

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-mock-upstream", "1")
        self.gzip_stream = None
        if self.content_encoding():
            self.send_header("content-encoding", "gzip")
            self.gzip_stream = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip framing
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        if getattr(self, "gzip_stream", None) is not None:
            data = self.gzip_stream.compress(data) + self.gzip_stream.flush(zlib.Z_SYNC_FLUSH)
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        delay = self.int_header("x-mock-delay-ms", 0)
        if delay > 0:
            time.sleep(delay / 1000)

    def event(self, value, name: str = None) -> None:
        prefix = f"event: {name}\n".encode() if name else b""
        self.write_chunk(prefix + b"data: " + json.dumps(value, separators=(",", ":")).encode("utf-8") + b"\n\n")

    def end_stream(self) -> None:
        if getattr(self, "gzip_stream", None) is not None:
            tail = self.gzip_stream.flush()
            self.gzip_stream = None
            self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def int_header(self, name: str, default: int) -> int:
        try:
            return int(self.headers.get(name, default))
        except ValueError:
            return default

    def repeated(self, text: str) -> str:
        """The answer, repeated as `x-mock-repeat` asks (bounded by MAX_ANSWER)."""
        times = max(1, self.int_header("x-mock-repeat", 1))
        if text and len(text) * times > MAX_ANSWER:
            times = max(1, MAX_ANSWER // len(text))
        return text * times

    @staticmethod
    def within_limit(answer: str, req: dict) -> str:
        """The answer cut to the request's output limit, as a real model stops at it
        (`max_completion_tokens`, `max_tokens`, `max_output_tokens`; 4 characters a token)."""
        if answer and req.get("__ignore_limit"):
            return answer
        for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            limit = req.get(name)
            if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
                return answer[:limit * 4]
        return answer

    def json_body(self, body: bytes) -> dict:
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON")
        if not isinstance(value, dict):
            raise BadRequest("request body must be a JSON object")
        if self.headers.get("x-mock-ignore-max-tokens"):
            # An upstream that overruns the limit it was given (budget tests).
            value["__ignore_limit"] = True
        return value

    # ---- dispatch -------------------------------------------------------------

    def do_GET(self):  # noqa: N802
        self.dispatch()

    def do_POST(self):  # noqa: N802
        self.dispatch()

    def do_DELETE(self):  # noqa: N802
        self.dispatch()

    def do_PUT(self):  # noqa: N802
        self.dispatch()

    def do_PATCH(self):  # noqa: N802
        self.dispatch()

    def do_HEAD(self):  # noqa: N802
        self.dispatch()

    def dispatch(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self.read_body()
        except (BadRequest, ValueError) as err:
            self.close_connection = True
            self.send_error_json(400, f"unreadable body: {err}", "bad_body")
            return
        if not path.startswith("/__admin/"):
            self.state.record({
                "time": time.time(),
                "method": self.command,
                "path": self.path,
                # Lowercased names; repeated headers joined as a proxy would.
                "headers": {k.lower(): ", ".join(self.headers.get_all(k)) for k in set(self.headers.keys())},
                "header_list": [[k.lower(), v] for k, v in self.headers.items()],
                "body_bytes": len(body),
            })
        key = getattr(self, "api_key", None)
        if key and not path.startswith("/__admin/") and path != "/.well-known/jwks.json" \
                and self.headers.get("authorization", "") != f"Bearer {key}":
            # Like a real model API: its own key, never the user's JWT.
            self.send_json(401, {"error": {"message": "incorrect api key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})
            return
        forced = self.int_header("x-mock-status", 0)
        if forced and not path.startswith("/__admin/"):
            self.send_error_json(forced, f"mock error {forced} as requested", "mock_forced_status")
            return
        routes = {
            "/healthz": {"GET": self.healthz, "HEAD": self.healthz},
            "/.well-known/jwks.json": {"GET": self.serve_jwks},
            "/v1/chat/completions": {"POST": self.chat},
            "/v1/completions": {"POST": self.completions},
            "/v1/embeddings": {"POST": self.embeddings},
            "/v1/models": {"GET": self.models},
            "/v1/responses": {"POST": self.responses_api},
            "/v1/messages": {"POST": self.messages},
            "/v1/fine_tuning/jobs": {"GET": self.fine_tuning_list, "POST": self.fine_tuning_create},
            "/__admin/jwks": {"POST": self.admin_set_jwks, "DELETE": self.admin_reset_jwks},
            "/__admin/jwks-delay": {"PUT": self.admin_set_jwks_delay},
            "/__admin/requests": {"GET": self.admin_requests, "DELETE": self.admin_clear_requests},
            "/__admin/stats": {"GET": self.admin_stats},
        }
        methods = routes.get(path)
        if methods is None and path.startswith("/v1/models/"):
            methods = {"GET": self.model}
        if methods is None:
            self.send_error_json(404, f"no such endpoint: {self.command} {path}", "not_found")
            return
        handler = methods.get(self.command)
        if handler is None:
            self.send_json(405, {"error": {"message": f"method {self.command} not allowed on {path}",
                                           "type": "invalid_request_error", "code": "method_not_allowed"}},
                           headers=[("allow", ", ".join(sorted(methods)))])
            return
        try:
            handler(body, parse_qs(url.query))
        except BadRequest as err:
            self.send_error_json(400, str(err), "invalid_request")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # ---- plain endpoints ------------------------------------------------------

    def healthz(self, _body, _query):
        self.send(200, b"ok", "text/plain")

    def serve_jwks(self, _body, _query):
        with self.state.lock:
            delay_ms = self.state.jwks_delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        self.send(200, self.state.jwks(), "application/json", headers=[("cache-control", "max-age=300")])

    def models(self, _body, _query):
        self.send_json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "tollgate"} for m in MODELS]})

    def model(self, _body, _query):
        name = urlsplit(self.path).path[len("/v1/models/"):]
        if name not in MODELS:
            self.send_error_json(404, f"the model `{name}` does not exist", "model_not_found")
            return
        self.send_json(200, {"id": name, "object": "model", "created": 1700000000, "owned_by": "tollgate"})

    def fine_tuning_list(self, _body, _query):
        self.send_json(200, {"object": "list", "data": [], "has_more": False})

    def fine_tuning_create(self, body, _query):
        req = self.json_body(body)
        self.send_json(200, {"object": "fine_tuning.job", "id": new_id("ftjob-"), "model": req.get("model", MODEL),
                             "status": "queued", "created_at": now()})

    # ---- OpenAI chat / completions / embeddings -------------------------------

    def chat(self, body, _query):
        req = self.json_body(body)
        messages = req.get("messages")
        answer = self.within_limit(self.repeated(last_user_text(messages)), req)
        prompt_tokens = tokens(all_text(messages))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens(answer),
                 "total_tokens": prompt_tokens + tokens(answer)}
        ident, created, model = new_id("chatcmpl-"), now(), req.get("model", MODEL)
        shape = self.headers.get("x-mock-shape", "")
        if shape:
            self.chat_shape(shape, req, answer, ident, created, model, usage)
            return
        if not req.get("stream"):
            self.send_json(200, {
                "id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": usage})
            return

        def chunk(delta, finish=None):
            return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        self.start_stream()
        self.event(chunk({"role": "assistant", "content": ""}))
        for piece in pieces(answer, max(1, self.int_header("x-mock-chunk-chars", 4))):
            self.event(chunk({"content": piece}))
        self.event(chunk({}, "stop"))
        options = req.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            self.event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [], "usage": usage})
        self.write_chunk(b"data: [DONE]\n\n")
        self.end_stream()

    def chat_shape(self, shape, req, answer, ident, created, model, usage):
        """Other answer shapes for the redaction tests (x-mock-shape)."""
        size = max(1, self.int_header("x-mock-chunk-chars", 4))
        if shape == "octet":
            self.send(200, answer.encode("utf-8"), "application/octet-stream")
            return
        if shape == "invalid_json":
            body = '{"choices":[{"message":{"content":"' + answer.replace("@", "\\u0040") + '"}}'
            self.send(200, body.encode("utf-8"), "application/json")
            return
        if shape == "ndjson":
            self.send_response(200)
            self.send_header("content-type", "application/x-ndjson")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("x-mock-upstream", "1")
            self.end_headers()
            self.gzip_stream = None
            for piece in pieces(answer, size):
                self.write_chunk(json.dumps({"model": model, "created_at": "2024-01-01T00:00:00Z",
                                             "message": {"role": "assistant", "content": piece},
                                             "done": False}).encode() + b"\n")
            self.write_chunk(json.dumps({"model": model, "created_at": "2024-01-01T00:00:00Z",
                                         "message": {"role": "assistant", "content": ""}, "done": True,
                                         "done_reason": "stop"}).encode() + b"\n")
            self.end_stream()
            return

        def logprobs(piece):
            return {"content": [{"token": piece, "logprob": -0.1, "bytes": list(piece.encode()),
                                 "top_logprobs": [{"token": piece, "logprob": -0.1, "bytes": list(piece.encode())}]}]}

        def delta(piece, first):
            if shape == "function_call":
                d = {"arguments": piece}
                if first:
                    d["name"] = "save_note"
                return {"function_call": d}
            if shape == "audio":
                return {"audio": {"id": "audio_1", "transcript": piece}} if first else {"audio": {"transcript": piece}}
            if shape == "content_parts":
                return {"content": [{"type": "text", "text": piece}]}
            return {"content": piece}

        if not req.get("stream"):
            message = {"role": "assistant", "content": answer}
            if shape == "function_call":
                message = {"role": "assistant", "content": None,
                           "function_call": {"name": "save_note", "arguments": answer}}
            elif shape == "audio":
                message = {"role": "assistant", "content": None,
                           "audio": {"id": "audio_1", "data": "", "transcript": answer}}
            elif shape == "content_parts":
                message = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
            choice = {"index": 0, "message": message, "finish_reason": "stop",
                      "logprobs": logprobs(answer) if shape == "logprobs" else None}
            self.send_json(200, {"id": ident, "object": "chat.completion", "created": created, "model": model,
                                 "choices": [choice], "usage": usage})
            return
        self.start_stream()
        self.event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": None,
                                 "finish_reason": None}]})
        for i, piece in enumerate(pieces(answer, size)):
            self.event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                        "choices": [{"index": 0, "delta": delta(piece, i == 0),
                                     "logprobs": logprobs(piece) if shape == "logprobs" else None,
                                     "finish_reason": None}]})
        self.event({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                 "finish_reason": "function_call" if shape == "function_call" else "stop"}]})
        self.write_chunk(b"data: [DONE]\n\n")
        self.end_stream()

    def completions(self, body, _query):
        req = self.json_body(body)
        prompt = req.get("prompt", "")
        if isinstance(prompt, list):
            prompt = prompt[0] if prompt and isinstance(prompt[0], str) else ""
        if not isinstance(prompt, str):
            raise BadRequest("`prompt` must be a string or an array of strings")
        usage = {"prompt_tokens": tokens(prompt), "completion_tokens": tokens(prompt),
                 "total_tokens": 2 * tokens(prompt)}
        ident, created, model = new_id("cmpl-"), now(), req.get("model", MODEL)
        if not req.get("stream"):
            self.send_json(200, {
                "id": ident, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": prompt, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage})
            return
        self.start_stream()
        for piece in pieces(prompt, max(1, self.int_header("x-mock-chunk-chars", 4))):
            self.event({"id": ident, "object": "text_completion", "created": created, "model": model,
                        "choices": [{"index": 0, "text": piece, "logprobs": None, "finish_reason": None}]})
        self.event({"id": ident, "object": "text_completion", "created": created, "model": model,
                    "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}]})
        options = req.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            self.event({"id": ident, "object": "text_completion", "created": created, "model": model,
                        "choices": [], "usage": usage})
        self.write_chunk(b"data: [DONE]\n\n")
        self.end_stream()

    def embeddings(self, body, _query):
        req = self.json_body(body)
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise BadRequest("`input` must be a string or an array of strings")
        used = sum(tokens(i) for i in inputs)
        self.send_json(200, {
            "object": "list", "model": req.get("model", "tollgate-mock-embed-1"),
            "data": [{"object": "embedding", "index": i, "embedding": embedding(text)}
                     for i, text in enumerate(inputs)],
            "usage": {"prompt_tokens": used, "total_tokens": used}})

    # ---- Responses API --------------------------------------------------------

    def responses_api(self, body, _query):
        req = self.json_body(body)
        text = self.repeated(responses_input_text(req.get("input")))
        ident, msg_id, model = new_id("resp_"), new_id("msg_"), req.get("model", MODEL)
        usage = {"input_tokens": tokens(text), "output_tokens": tokens(text), "total_tokens": 2 * tokens(text)}

        def response(status, output, with_usage):
            return {"id": ident, "object": "response", "created_at": now(), "status": status, "model": model,
                    "output": output, "usage": usage if with_usage else None}

        message = {"type": "message", "id": msg_id, "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}
        if not req.get("stream"):
            self.send_json(200, response("completed", [message], True))
            return
        self.start_stream()
        seq = iter(range(1_000_000))
        self.event({"type": "response.created", "sequence_number": next(seq),
                    "response": response("in_progress", [], False)}, "response.created")
        for piece in pieces(text, max(1, self.int_header("x-mock-chunk-chars", 4))):
            self.event({"type": "response.output_text.delta", "sequence_number": next(seq), "item_id": msg_id,
                        "output_index": 0, "content_index": 0, "delta": piece}, "response.output_text.delta")
        self.event({"type": "response.output_text.done", "sequence_number": next(seq), "item_id": msg_id,
                    "output_index": 0, "content_index": 0, "text": text}, "response.output_text.done")
        self.event({"type": "response.completed", "sequence_number": next(seq),
                    "response": response("completed", [message], True)}, "response.completed")
        self.end_stream()

    # ---- Anthropic Messages API -----------------------------------------------

    def messages(self, body, _query):
        req = self.json_body(body)
        messages = req.get("messages")
        answer = self.within_limit(self.repeated(last_user_text(messages)), req)
        system = text_of(req.get("system", ""))
        input_tokens = tokens(system + all_text(messages))
        ident, model = new_id("msg_"), req.get("model", "claude-mock-1")
        if not req.get("stream"):
            self.send_json(200, {
                "id": ident, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": tokens(answer)}})
            return
        self.start_stream()
        self.event({"type": "message_start", "message": {
            "id": ident, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}, "message_start")
        self.event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")
        self.event({"type": "ping"}, "ping")
        for piece in pieces(answer, max(1, self.int_header("x-mock-chunk-chars", 4))):
            self.event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                       "content_block_delta")
        self.event({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self.event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": tokens(answer)}}, "message_delta")
        self.event({"type": "message_stop"}, "message_stop")
        self.end_stream()

    # ---- test hooks -----------------------------------------------------------

    def admin_set_jwks(self, body, _query):
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("jwks is not valid JSON")
        if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
            raise BadRequest("jwks must be an object with a `keys` array")
        with self.state.lock:
            self.state.jwks_override = body
        self.send_json(200, {"keys": len(value["keys"])})

    def admin_set_jwks_delay(self, body, _query):
        try:
            delay_ms = int(body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("jwks-delay takes a whole number of milliseconds")
        with self.state.lock:
            self.state.jwks_delay_ms = max(0, min(delay_ms, 60_000))
        self.send_json(200, {"jwks_delay_ms": delay_ms})

    def admin_reset_jwks(self, _body, _query):
        with self.state.lock:
            self.state.jwks_override = None
        self.send_json(200, {"reset": True})

    def admin_requests(self, _body, query):
        with self.state.lock:
            entries = list(self.state.requests)
        if "n" in query:
            entries = entries[-max(0, int(query["n"][0])):]
        self.send_json(200, entries)

    def admin_clear_requests(self, _body, _query):
        with self.state.lock:
            self.state.requests.clear()
        self.send_json(200, {"cleared": True})

    def admin_stats(self, _body, _query):
        with self.state.lock:
            stats = {"jwks_fetches": self.state.jwks_fetches, "requests": self.state.requests_total}
        self.send_json(200, stats)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=10001, help="0 picks a free port")
    ap.add_argument("--jwks", default=DEFAULT_JWKS, help="JWKS file served at /.well-known/jwks.json")
    ap.add_argument("--quiet", action="store_true", help="no access log on stderr")
    ap.add_argument("--api-key", default=os.environ.get("TOLLGATE_MOCK_API_KEY"),
                    help="require `authorization: Bearer KEY` on the model API (default: $TOLLGATE_MOCK_API_KEY)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.jwks):
        ap.error(f"--jwks: no such file: {args.jwks}")
    Handler.state = State(args.jwks)
    Handler.quiet = args.quiet
    Handler.api_key = args.api_key
    server = Server((args.host, args.port), Handler)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
