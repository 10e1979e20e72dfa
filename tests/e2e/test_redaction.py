"""Response redaction through the real Envoy (issue 5).

The mock model echoes the last user message, so a test makes the "model" say
PII and checks what reaches the client. The demo configuration redacts every
built-in entity with `[REDACTED:<ENTITY>]` (`"redaction": {}`), and does not
redact requests, so the upstream sees the raw values and answers with them.
"""
import gzip
import http.client
import json
import time
import urllib.parse

import pytest

import harness
from checks import assert_upstream_answered, marker

# value, entity
PII = {
    "email": ("john.doe@example.com", "EMAIL"),
    "card_spaces": ("4111 1111 1111 1111", "CREDIT_CARD"),
    "card_dashes": ("5500-0000-0000-0004", "CREDIT_CARD"),
    "ssn": ("078-05-1123", "US_SSN"),
    "iban": ("GB82WEST12345698765432", "IBAN"),
    "aws_key": ("AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY"),
    "openai_key": ("sk-proj-abcDEF1234567890abcdefGHIJ", "OPENAI_KEY"),
    "anthropic_key": ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "ANTHROPIC_KEY"),
    "github_token": ("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", "GITHUB_TOKEN"),
    "jwt": ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "JWT"),
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


NOT_LUHN = "4111111111111112"
assert not luhn_ok(NOT_LUHN) and luhn_ok("4111111111111111")

BENIGN = [
    f"Your card number {NOT_LUHN} fails the checksum, so it is no card.",
    "Order 88231-55 shipped at 2024-05-01T12:30:45Z and arrives on 2024-05-03.",
    "Upgrade from version 1.2.3 to 10.20.30; build 20240501.7 is the latest.",
    "The request id is 123e4567-e89b-12d3-a456-426614174000 and it cost $1,299.99.",
    "Room 404, floor 12, 3 people, 25 minutes, invoice INV-2024-000123.",
]


def chat_body(text: str, stream: bool = False) -> dict:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def post(stack, path, body, headers=None, timeout=60, sub="alice"):
    return stack.request("POST", path, stack.mint(alg="HS256", sub=sub), headers, body, timeout=timeout)


def big_spender() -> str:
    """A subject of its own: a multi-MB answer spends most of a demo daily token budget."""
    return f"big-{marker()[:12]}"


def sse_events(r: harness.Response) -> list:
    """Every SSE event's data, asserting each is JSON or [DONE] and [DONE] (if any) is last."""
    assert r.header("content-type") == "text/event-stream", r
    events = harness.parse_sse(r.body)
    for i, event in enumerate(events):
        if event == "[DONE]":
            assert i == len(events) - 1, "[DONE] is not the last event"
        else:
            assert isinstance(event, dict), f"event {i} is not JSON: {event!r}"
    return events


def chat_delta_text(events) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or ""
                   for e in events if isinstance(e, dict) and e.get("choices"))


# ---------------------------------------------------------------------------
# Non-streamed JSON
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", PII)
def test_json_answer_is_redacted_and_stays_valid(stack, name):
    value, entity = PII[name]
    r = post(stack, "/v1/chat/completions", chat_body(f"The value is {value}, keep it safe."))
    assert_upstream_answered(r)
    assert value.encode() not in r.body
    doc = r.json()  # still a valid document
    assert doc["choices"][0]["message"]["content"] == f"The value is [REDACTED:{entity}], keep it safe."
    assert doc["usage"]["total_tokens"] > 0
    assert r.header("content-length") is None or int(r.header("content-length")) == len(r.body)


def test_every_value_in_one_answer_is_redacted(stack):
    text = " | ".join(value for value, _ in PII.values())
    r = post(stack, "/v1/chat/completions", chat_body(text))
    content = r.json()["choices"][0]["message"]["content"]
    for value, entity in PII.values():
        assert value not in content
        assert f"[REDACTED:{entity}]" in content
    assert content.count("[REDACTED:") == len(PII)


@pytest.mark.parametrize("text", BENIGN)
def test_benign_numbers_survive(stack, text):
    r = post(stack, "/v1/chat/completions", chat_body(text))
    assert_upstream_answered(r)
    assert r.json()["choices"][0]["message"]["content"] == text


def test_json_escapes_in_the_answer_are_respected(stack):
    # Quotes, backslashes and non-ASCII around the value: the mock writes them escaped.
    text = 'He said "mail \\ me" at john.doe@example.com — «ok»'
    r = post(stack, "/v1/chat/completions", chat_body(text))
    assert r.json()["choices"][0]["message"]["content"] == text.replace("john.doe@example.com", "[REDACTED:EMAIL]")


@pytest.mark.parametrize("path,body,extract", [
    ("/v1/responses", {"model": "m", "input": "reach me at ann@example.org"},
     lambda d: d["output"][0]["content"][0]["text"]),
    ("/v1/messages", {"model": "c", "max_tokens": 64, "messages": [{"role": "user", "content": "reach me at ann@example.org"}]},
     lambda d: d["content"][0]["text"]),
    ("/v1/completions", {"model": "m", "prompt": "reach me at ann@example.org"},
     lambda d: d["choices"][0]["text"]),
], ids=["responses", "anthropic", "completions"])
def test_json_answers_of_other_apis_are_redacted(stack, path, body, extract):
    r = post(stack, path, body)
    assert_upstream_answered(r)
    assert extract(r.json()) == "reach me at [REDACTED:EMAIL]"


# ---------------------------------------------------------------------------
# Streamed SSE, split into tiny deltas
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("chars", ["1", "2", "3"])
def test_sse_answer_is_redacted_when_split_into_tiny_deltas(stack, chars):
    text = "mail john.doe@example.com or card 4111 1111 1111 1111 and key AKIAIOSFODNN7EXAMPLE now"
    r = post(stack, "/v1/chat/completions", chat_body(text, stream=True), {"x-mock-chunk-chars": chars})
    assert_upstream_answered(r)
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    content = chat_delta_text(events)
    assert content == ("mail [REDACTED:EMAIL] or card [REDACTED:CREDIT_CARD] and key "
                       "[REDACTED:AWS_ACCESS_KEY] now"), content
    for raw in (b"john.doe", b"example.com", b"AKIAIOSF"):
        assert raw not in r.body
    assert events[-2]["usage"]["completion_tokens"] > 0  # the usage chunk survived


def test_sse_benign_text_passes_unchanged(stack):
    text = BENIGN[1]
    r = post(stack, "/v1/chat/completions", chat_body(text, stream=True), {"x-mock-chunk-chars": "1"})
    events = sse_events(r)
    assert chat_delta_text(events) == text


def test_responses_api_sse_is_redacted(stack):
    text = "ping ann@example.org or sk-proj-abcDEF1234567890abcdefGHIJ today"
    r = post(stack, "/v1/responses", {"model": "m", "input": text, "stream": True}, {"x-mock-chunk-chars": "2"})
    assert_upstream_answered(r)
    events = sse_events(r)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    expected = "ping [REDACTED:EMAIL] or [REDACTED:OPENAI_KEY] today"
    assert deltas == expected
    done = [e for e in events if e["type"] == "response.output_text.done"]
    assert done and done[0]["text"] == expected
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == expected
    assert b"ann@example" not in r.body and b"sk-proj" not in r.body
    assert b"event: response.completed\n" in r.body  # event names kept


def test_anthropic_sse_is_redacted(stack):
    text = "ping ann@example.org, ssn 078-05-1123."
    body = {"model": "c", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": text}]}
    r = post(stack, "/v1/messages", body, {"x-mock-chunk-chars": "1"})
    assert_upstream_answered(r)
    events = sse_events(r)
    deltas = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert deltas == "ping [REDACTED:EMAIL], ssn [REDACTED:US_SSN]."
    assert [e["type"] for e in events][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert b"ann@example" not in r.body and b"078-05" not in r.body


# ---------------------------------------------------------------------------
# Large answers, and streaming without buffering whole
# ---------------------------------------------------------------------------

UNIT = "contact john.doe@example.com about order 88231; "  # 48 characters


def test_large_json_answer_is_redacted_and_valid(stack):
    repeat = 80_000  # about 3.8 MB of answer
    r = post(stack, "/v1/chat/completions", chat_body(UNIT), {"x-mock-repeat": str(repeat)}, sub=big_spender())
    assert_upstream_answered(r)
    assert len(r.body) > 3_000_000
    content = r.json()["choices"][0]["message"]["content"]
    assert content == UNIT.replace("john.doe@example.com", "[REDACTED:EMAIL]") * repeat
    assert b"@example.com" not in r.body


def test_large_sse_answer_is_redacted_and_valid(stack):
    repeat = 80_000
    r = post(stack, "/v1/chat/completions", chat_body(UNIT, stream=True),
             {"x-mock-repeat": str(repeat), "x-mock-chunk-chars": "4000"}, sub=big_spender())
    assert_upstream_answered(r)
    assert len(r.body) > 3_000_000
    events = sse_events(r)
    assert events[-1] == "[DONE]"
    assert chat_delta_text(events) == UNIT.replace("john.doe@example.com", "[REDACTED:EMAIL]") * repeat
    assert b"@example.com" not in r.body


def test_sse_text_reaches_the_client_while_the_upstream_is_still_sending(stack):
    # 62 events of 20 characters, 50 ms apart (about 3 s). The filter holds back
    # a window of text (256 bytes by default), so text arrives about 13 events
    # late; a filter that held the whole stream would deliver it only at the end.
    text = "word " * 240 + "to john.doe@example.com"
    url = urllib.parse.urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body(text, stream=True)), headers={
            "authorization": f"Bearer {stack.mint(alg='HS256')}", "content-type": "application/json",
            "x-mock-chunk-chars": "20", "x-mock-delay-ms": "50"})
        start = time.monotonic()
        resp = conn.getresponse()
        assert resp.status == 200
        body, first_text_at, first_byte_at = b"", None, None
        while chunk := resp.read1(65536):
            first_byte_at = first_byte_at or time.monotonic() - start
            body += chunk
            complete = body[:body.rfind(b"\n\n") + 2] if b"\n\n" in body else b""
            if first_text_at is None and chat_delta_text(harness.parse_sse(complete)):
                first_text_at = time.monotonic() - start
        total = time.monotonic() - start
    finally:
        conn.close()
    assert total > 2.5, f"the mock should take about 3 s, took {total:.1f} s"
    assert first_byte_at < 0.5, f"the first event took {first_byte_at:.2f} s"
    assert first_text_at is not None and first_text_at < total / 2, \
        f"the first text arrived after {first_text_at} s of {total:.2f} s: the stream was held"
    assert chat_delta_text(harness.parse_sse(body)) == text.replace("john.doe@example.com", "[REDACTED:EMAIL]")


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_compressed_upstream_answer_is_refused(stack, stream):
    r = post(stack, "/v1/chat/completions", chat_body("my mail is john.doe@example.com", stream),
             {"x-mock-content-encoding": "gzip"})
    assert r.status == 502, r
    assert r.header("content-encoding") is None, r
    error = r.json()["error"]  # a readable JSON error, not the compressed body
    assert error["code"] == "upstream_encoding_unsupported"
    assert error["type"] == "api_error"
    assert b"john.doe" not in r.body
    with pytest.raises(OSError):
        gzip.decompress(r.body)


def test_upstream_is_asked_for_identity_encoding(stack):
    tag = marker()
    r = post(stack, "/v1/chat/completions", chat_body("hello"),
             {"accept-encoding": "gzip, br", "x-test-id": tag})
    assert_upstream_answered(r)
    seen = stack.mock.find_requests(tag)
    assert seen[0]["headers"].get("accept-encoding") == "identity"
