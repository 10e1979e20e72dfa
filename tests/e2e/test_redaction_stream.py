"""Redaction at the stream's pace, and every streamed shape, through the real Envoy (issues 14, 11).

The mock echoes the last user message, so each test makes the "model" say PII
in one shape and checks what the client gets: masked values, valid events of
the same API, and text that keeps the model's pace. `x-mock-shape` picks the
shape (see envoy/demo/mock_upstream.py).
"""
import http.client
import json
import time
import urllib.parse

import pytest

import harness
from checks import assert_upstream_answered

PACED_TEXT = ("My card is 4111 1111 1111 1111 and my mail is john.doe@example.com, "
              "so please keep both safe while we talk about the weather today.")
MASKED_TEXT = ("My card is [REDACTED:CREDIT_CARD] and my mail is [REDACTED:EMAIL], "
               "so please keep both safe while we talk about the weather today.")


def post(stack, path, body, headers=None, timeout=60):
    return stack.request("POST", path, stack.mint(alg="HS256", sub="pace"), headers, body, timeout=timeout)


def chat(text, stream=False):
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


def paced_reads(stack, body, headers):
    """POSTs and reads the streamed answer as it arrives: a list of byte pieces."""
    url = urllib.parse.urlsplit(stack.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    h = {"content-type": "application/json", "authorization": f"Bearer {stack.mint(alg='HS256', sub='pace')}"}
    h.update(headers)
    conn.request("POST", "/v1/chat/completions", json.dumps(body), h)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    reads = []
    while True:
        piece = resp.read1(65536)
        if not piece:
            break
        reads.append(piece)
    conn.close()
    return reads


def content_of(block: bytes) -> str:
    text = ""
    for ev in harness.parse_sse(block):
        if isinstance(ev, dict) and ev.get("choices"):
            text += ev["choices"][0].get("delta", {}).get("content") or ""
    return text


def test_paced_stream_keeps_the_model_pace_and_masks_pii(stack):
    chunk = 4
    upstream_pieces = [PACED_TEXT[i:i + chunk] for i in range(0, len(PACED_TEXT), chunk)]
    reads = paced_reads(stack, chat(PACED_TEXT, stream=True),
                        {"x-mock-chunk-chars": str(chunk), "x-mock-delay-ms": "20"})
    body = b"".join(reads)
    # Per event the filter sent (reads may coalesce events on a busy machine).
    texts = [content_of(("data: " + json.dumps(e) + "\n\n").encode())
             for e in harness.parse_sse(body) if isinstance(e, dict)]
    with_text = [t for t in texts if t]
    # Behaviour, not timing: the first text the client gets was released by the
    # upstream's first text event (it is a prefix of that piece), so it left
    # before the second one was written.
    assert with_text, body
    assert upstream_pieces[0].startswith(with_text[0]), (with_text[0], upstream_pieces[0])
    # Pieces within a factor of two of the model's.
    assert len(upstream_pieces) / 2 <= len(with_text) <= len(upstream_pieces) * 2, (len(with_text), len(upstream_pieces))
    # Still masked, and no event that carried text went out empty (the
    # upstream's own first event, with the role, has empty content).
    assert "".join(texts) == MASKED_TEXT
    assert b"4111" not in body and b"john.doe" not in body
    for ev in harness.parse_sse(body):
        if isinstance(ev, dict) and ev.get("choices"):
            delta = ev["choices"][0].get("delta", {})
            if "content" in delta and "role" not in delta:
                assert delta["content"] != "", ev


def test_legacy_completions_stream_is_redacted(stack):
    text = "card 4111 1111 1111 1111, mail ann@example.org, ssn 078-05-1123 ok"
    r = post(stack, "/v1/completions", {"model": "m", "prompt": text, "stream": True}, {"x-mock-chunk-chars": "3"})
    assert_upstream_answered(r)
    events = [e for e in harness.parse_sse(r.body) if isinstance(e, dict)]
    got = "".join(e["choices"][0]["text"] for e in events if e.get("choices"))
    assert got == "card [REDACTED:CREDIT_CARD], mail [REDACTED:EMAIL], ssn [REDACTED:US_SSN] ok"
    assert all(e["object"] == "text_completion" for e in events)
    assert b"4111" not in r.body and b"ann@" not in r.body


@pytest.mark.parametrize("shape,extract", [
    ("function_call", lambda d: (d.get("function_call") or {}).get("arguments") or ""),
    ("audio", lambda d: (d.get("audio") or {}).get("transcript") or ""),
    ("content_parts", lambda d: "".join(p.get("text", "") for p in (d.get("content") or []))
     if isinstance(d.get("content"), list) else ""),
])
def test_other_streamed_text_fields_are_windowed(stack, shape, extract):
    text = "card 4111 1111 1111 1111 and mail ann@example.org now"
    r = post(stack, "/v1/chat/completions", chat(text, stream=True), {"x-mock-shape": shape, "x-mock-chunk-chars": "3"})
    assert_upstream_answered(r)
    events = [e for e in harness.parse_sse(r.body) if isinstance(e, dict)]
    got = "".join(extract(e["choices"][0].get("delta", {})) for e in events if e.get("choices"))
    assert got == "card [REDACTED:CREDIT_CARD] and mail [REDACTED:EMAIL] now", got
    assert b"4111" not in r.body and b"ann@" not in r.body


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_logprobs_cannot_rebuild_a_masked_value(stack, stream):
    text = "card 4111 1111 1111 1111 ok"
    r = post(stack, "/v1/chat/completions", chat(text, stream=stream), {"x-mock-shape": "logprobs"})
    assert_upstream_answered(r)
    assert b"4111" not in r.body
    assert b"[52,49,49,49]" not in r.body.replace(b" ", b"")  # the bytes of "4111"
    if not stream:
        assert r.json()["choices"][0]["logprobs"] is None


def test_ndjson_stream_is_redacted_line_by_line(stack):
    text = "mail ann@example.org or card 4111 1111 1111 1111 ok"
    r = post(stack, "/v1/chat/completions", chat(text), {"x-mock-shape": "ndjson", "x-mock-chunk-chars": "2"})
    assert_upstream_answered(r)
    lines = [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]
    got = "".join(line["message"]["content"] for line in lines)
    assert got == "mail [REDACTED:EMAIL] or card [REDACTED:CREDIT_CARD] ok"
    assert lines[-1]["done"] is True
    assert b"ann@" not in r.body and b"4111" not in r.body


def test_octet_stream_is_refused_by_default(stack):
    r = post(stack, "/v1/chat/completions", chat("mail ann@example.org"), {"x-mock-shape": "octet"})
    assert r.status == 502, r
    assert b"ann@" not in r.body
    assert r.json()["error"]["code"] == "upstream_content_type_unsupported"


@pytest.mark.parametrize("text,raw", [
    ("mail ａｎｎ＠ｅｘａｍｐｌｅ.org", "ａｎｎ"),
    ("card 4111\u200b1111\u200b1111\u200b1111", "4111\u200b1111"),
    ("card 4111\u00a01111\u00a01111\u00a01111", "4111\u00a01111"),
    ("see No.4111111111111111 now", "4111111111111111"),
    ("paid with 4111111111111111-1227", "4111111111111111"),
    ("phone: 699 956 915", "699 956 915"),
    ("Maestro 630400000000 and JCB 213100000000001", "630400000000"),
    ("iban de89370400440532013000", "de89370400440532013000"),
])
def test_disguised_formats_are_masked(stack, text, raw):
    for stream in (False, True):
        r = post(stack, "/v1/chat/completions", chat(text, stream=stream), {"x-mock-chunk-chars": "2"})
        assert_upstream_answered(r)
        assert raw.encode() not in r.body, (stream, r.body)
        assert b"[REDACTED:" in r.body


def test_escaped_value_in_invalid_json_is_masked(stack):
    r = post(stack, "/v1/chat/completions", chat("write to alice@example.com"), {"x-mock-shape": "invalid_json"})
    assert_upstream_answered(r)
    assert b"alice" not in r.body, r.body
    assert b"[REDACTED:EMAIL]" in r.body


def test_anthropic_sdk_streams_through_with_pii_masked(stack):
    # The official SDK as a client: its event parser accepts every event the
    # filter sends (synthetic flushes included), and the text stays masked.
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.Anthropic(base_url=stack.url, api_key="unused",
                                 default_headers={"authorization": f"Bearer {stack.mint(alg='HS256', sub='pace')}",
                                                  "x-mock-chunk-chars": "4", "x-mock-delay-ms": "5"})
    pieces = []
    with client.messages.stream(model="c", max_tokens=256,
                                messages=[{"role": "user", "content": PACED_TEXT}]) as stream:
        for text in stream.text_stream:
            pieces.append(text)
    assert "".join(pieces) == MASKED_TEXT
    assert len(pieces) >= len(PACED_TEXT) / 4 / 2
