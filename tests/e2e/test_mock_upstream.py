"""The mock upstream on its own (no Envoy): the other tests trust what it says."""
import http.client
import json

import pytest

import harness


@pytest.fixture(scope="module")
def mock(run_dir):
    m = harness.Mock(run_dir / "mock-alone")
    yield m
    m.stop()


def chat_body(text, **extra):
    return {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
            **extra}


def test_healthz_answers_ok_and_marks_itself(mock):
    r = mock.request("GET", "/healthz")
    assert (r.status, r.body) == (200, b"ok")
    assert r.header("x-mock-upstream") == "1"


def test_chat_echoes_the_last_user_message_with_usage(mock):
    body = {"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"},
                         {"role": "user", "content": "say exactly this"}]}
    r = mock.request("POST", "/v1/chat/completions", body=body)
    assert r.status == 200 and r.header("content-type") == "application/json"
    doc = r.json()
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"] == {"role": "assistant", "content": "say exactly this"}
    assert doc["choices"][0]["finish_reason"] == "stop"
    usage = doc["usage"]
    assert usage["completion_tokens"] == 4  # ceil(16 / 4)
    assert usage["prompt_tokens"] == 6  # ceil(len("first" + "x" + "say exactly this") / 4) = ceil(22 / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_chat_reads_text_parts(mock):
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "ab"}, {"type": "image_url"},
                                                      {"type": "text", "text": "cd"}]}]}
    r = mock.request("POST", "/v1/chat/completions", body=body)
    assert r.json()["choices"][0]["message"]["content"] == "abcd"


def test_chat_streams_small_deltas_then_usage_then_done(mock):
    text = "The quick brown fox jumps"
    r = mock.request("POST", "/v1/chat/completions",
                     body=chat_body(text, stream=True, stream_options={"include_usage": True}))
    assert r.status == 200
    assert r.header("content-type") == "text/event-stream"
    assert r.header("transfer-encoding") == "chunked"
    events = harness.parse_sse(r.body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(deltas) == text
    assert all(len(d) <= 4 for d in deltas)
    assert sum(1 for d in deltas if d) == 7  # ceil(25 / 4)
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop"]
    assert len(finals) == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 7
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_chat_stream_without_include_usage_has_no_usage_chunk(mock):
    r = mock.request("POST", "/v1/chat/completions", body=chat_body("hi", stream=True))
    events = harness.parse_sse(r.body)
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])


def test_stream_chunk_size_and_raw_framing_are_controllable(mock):
    r = mock.request("POST", "/v1/chat/completions", headers={"x-mock-chunk-chars": "1"},
                     body=chat_body("abc", stream=True))
    assert b"\ndata: [DONE]\n\n" in b"\n" + r.body
    deltas = [e["choices"][0]["delta"].get("content") for e in harness.parse_sse(r.body)[:-1]]
    assert [d for d in deltas if d] == ["a", "b", "c"]


def test_chunked_request_body_is_read(mock):
    # Envoy forwards a chunked body when a filter removed Content-Length.
    conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=5)
    payload = json.dumps(chat_body("chunked works")).encode()
    conn.request("POST", "/v1/chat/completions", body=iter([payload[:10], payload[10:]]),
                 headers={"content-type": "application/json"}, encode_chunked=True)
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    assert doc["choices"][0]["message"]["content"] == "chunked works"


def test_connection_is_kept_alive(mock):
    conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        assert resp.read() == b"ok"
        assert resp.getheader("connection") != "close"
    conn.request("POST", "/v1/chat/completions", body=json.dumps(chat_body("s", stream=True)))
    assert harness.parse_sse(conn.getresponse().read())[-1] == "[DONE]"
    conn.request("GET", "/healthz")  # still usable after a chunked answer
    assert conn.getresponse().read() == b"ok"
    conn.close()


def test_malformed_json_is_400_with_an_error_body(mock):
    r = mock.request("POST", "/v1/chat/completions", headers={"content-type": "application/json"}, body="{nope")
    assert r.status == 400
    assert r.json()["error"]["code"] == "invalid_request"


def test_unknown_path_is_404_json(mock):
    r = mock.request("GET", "/v2/whatever")
    assert r.status == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.header("x-mock-upstream") == "1"


def test_wrong_method_is_405(mock):
    r = mock.request("GET", "/v1/chat/completions")
    assert r.status == 405 and r.header("allow") == "POST"


def test_completions_echo_the_prompt(mock):
    r = mock.request("POST", "/v1/completions", body={"model": "m", "prompt": "complete me"})
    doc = r.json()
    assert doc["choices"][0]["text"] == "complete me"
    assert doc["usage"]["prompt_tokens"] == 3


def test_embeddings_are_deterministic_per_input(mock):
    one = mock.request("POST", "/v1/embeddings", body={"input": ["a", "b"]}).json()
    two = mock.request("POST", "/v1/embeddings", body={"input": "a"}).json()
    assert [d["index"] for d in one["data"]] == [0, 1]
    assert one["data"][0]["embedding"] == two["data"][0]["embedding"]
    assert one["data"][0]["embedding"] != one["data"][1]["embedding"]
    assert len(one["data"][0]["embedding"]) == 8


def test_models_are_listed(mock):
    doc = mock.request("GET", "/v1/models").json()
    assert doc["object"] == "list" and "tollgate-mock-1" in [m["id"] for m in doc["data"]]


def test_fine_tuning_jobs_are_listed(mock):
    r = mock.request("GET", "/v1/fine_tuning/jobs")
    assert r.status == 200 and r.json()["object"] == "list"


def test_responses_api_echoes_input_json_and_stream(mock):
    doc = mock.request("POST", "/v1/responses", body={"model": "m", "input": "respond"}).json()
    assert doc["output"][0]["content"][0] == {"type": "output_text", "text": "respond", "annotations": []}
    assert doc["usage"]["total_tokens"] == 4
    r = mock.request("POST", "/v1/responses", body={"model": "m", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "streamed"}]}], "stream": True})
    events = harness.parse_sse(r.body)
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "streamed"
    assert events[-1]["type"] == "response.completed"
    assert b"event: response.completed\n" in r.body


def test_anthropic_messages_json_and_stream(mock):
    body = {"model": "c", "max_tokens": 10, "system": "sys", "messages": [{"role": "user", "content": "claude"}]}
    doc = mock.request("POST", "/v1/messages", body=body).json()
    assert doc["type"] == "message" and doc["content"] == [{"type": "text", "text": "claude"}]
    assert doc["usage"] == {"input_tokens": 3, "output_tokens": 2}
    r = mock.request("POST", "/v1/messages", body={**body, "stream": True})
    events = harness.parse_sse(r.body)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "claude"
    assert b"event: content_block_delta\n" in r.body


def test_jwks_is_served_from_the_file_and_counted(mock):
    before = mock.stats()["jwks_fetches"]
    r = mock.request("GET", "/.well-known/jwks.json")
    assert r.status == 200
    assert r.json() == json.loads((harness.KEYS / "jwks.json").read_text())
    assert mock.stats()["jwks_fetches"] == before + 1


def test_jwks_can_be_replaced_and_reset(mock):
    rotated = json.loads((harness.KEYS / "jwks-rotated.json").read_text())
    mock.set_jwks(rotated)
    kids = [k["kid"] for k in mock.request("GET", "/.well-known/jwks.json").json()["keys"]]
    assert "demo-es256-rotated" in kids
    mock.reset_jwks()
    kids = [k["kid"] for k in mock.request("GET", "/.well-known/jwks.json").json()["keys"]]
    assert "demo-es256-rotated" not in kids and "demo-es256" in kids


def test_invalid_jwks_replacement_is_refused(mock):
    r = mock.request("POST", "/__admin/jwks", body="{not json")
    assert r.status == 400
    r = mock.request("POST", "/__admin/jwks", body={"no_keys": []})
    assert r.status == 400


def test_request_log_shows_the_headers_that_arrived(mock):
    mock.request("GET", "/healthz", headers={"x-test-id": "log-1", "x-tollgate-sub": "someone"})
    seen = mock.find_requests("log-1")
    assert len(seen) == 1
    assert seen[0]["path"] == "/healthz" and seen[0]["method"] == "GET"
    assert seen[0]["headers"]["x-tollgate-sub"] == "someone"
    assert ["x-tollgate-sub", "someone"] in seen[0]["header_list"]


def test_forced_status_for_error_paths(mock):
    r = mock.request("POST", "/v1/chat/completions", headers={"x-mock-status": "503"}, body=chat_body("x"))
    assert r.status == 503 and r.json()["error"]["code"] == "mock_forced_status"


def test_demo_keys_are_what_the_readme_says():
    assert len(harness.hs256_secret()) == 48 and harness.hs256_secret().isalnum()
    for name in ("rs256.pem", "es256.pem", "ed25519.pem", "es256-rotated.pem"):
        assert (harness.KEYS / name).read_text().startswith("-----BEGIN PRIVATE KEY-----\n"), name
    jwks = json.loads((harness.KEYS / "jwks.json").read_text())
    assert {k["kid"]: (k["kty"], k["alg"]) for k in jwks["keys"]} == {
        "demo-rs256": ("RSA", "RS256"), "demo-es256": ("EC", "ES256"), "demo-ed25519": ("OKP", "EdDSA")}
    for key in jwks["keys"]:
        for comp in ("n", "e", "x", "y"):
            if comp in key:
                assert "=" not in key[comp] and "+" not in key[comp] and "/" not in key[comp]


def test_envoy_yaml_hmac_secret_is_the_demo_key():
    cfg = harness.plugin_config(harness.demo_yaml())
    secret = cfg["auth"]["providers"][0]["hmac"][0]["secret_base64"]
    assert harness.base64.b64decode(secret) == harness.hs256_secret()


def test_repeat_makes_a_large_answer_with_matching_usage(mock):
    r = mock.request("POST", "/v1/chat/completions", headers={"x-mock-repeat": "1000"}, body=chat_body("abcd"))
    doc = r.json()
    assert doc["choices"][0]["message"]["content"] == "abcd" * 1000
    assert doc["usage"]["completion_tokens"] == 1000


def test_gzip_encoding_compresses_json_and_streams(mock):
    import gzip
    headers = {"x-mock-content-encoding": "gzip"}
    r = mock.request("POST", "/v1/chat/completions", headers=headers, body=chat_body("squeeze me"))
    assert r.header("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(r.body))["choices"][0]["message"]["content"] == "squeeze me"
    r = mock.request("POST", "/v1/chat/completions", headers=headers, body=chat_body("squeeze me", stream=True))
    assert r.header("content-encoding") == "gzip"
    events = harness.parse_sse(gzip.decompress(r.body))
    assert events[-1] == "[DONE]"
    # The same connection's next answer is plain again.
    r = mock.request("POST", "/v1/chat/completions", body=chat_body("plain"))
    assert r.header("content-encoding") is None and r.json()["choices"][0]["message"]["content"] == "plain"
