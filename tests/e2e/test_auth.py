"""JWT authentication and role authorization through the real Envoy (issue 2).

Each test sends real HTTP to Envoy running the built filter with the demo
configuration (envoy/envoy.yaml) in front of the mock upstream. A response
the filter produced itself carries no `x-mock-upstream` header.
"""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import harness
from checks import assert_denied, assert_invalid_token, assert_no_token, assert_upstream_answered, marker, token_parts
from harness import KEYS, claims, hs256_token, unsigned_token


def tamper_payload(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    doc = json.loads(harness.b64url_decode(payload))
    doc.update(changes)
    return ".".join([header, harness.b64url(json.dumps(doc).encode()), signature])


def tamper_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    # Flip a middle character: the last one may only carry padding bits.
    i = len(signature) // 2
    flipped = "A" if signature[i] != "A" else "B"
    return ".".join([header, payload, signature[:i] + flipped + signature[i + 1:]])


# ---------------------------------------------------------------------------
# Accepted tokens
# ---------------------------------------------------------------------------

def test_healthz_needs_no_token(stack):
    r = stack.request("GET", "/healthz")
    assert_upstream_answered(r)
    assert r.body == b"ok"


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256", "EdDSA"])
def test_each_demo_algorithm_is_accepted(stack, alg):
    text = f"signed with {alg} {marker()}"
    r = stack.chat(stack.mint(alg=alg), text)
    assert_upstream_answered(r)
    assert r.json()["choices"][0]["message"]["content"] == text


def test_hand_signed_hs256_token_is_accepted(stack):
    # The baseline for the hand-crafted refusals below: our own signing is right.
    r = stack.chat(hs256_token(claims()))
    assert_upstream_answered(r)


@pytest.mark.parametrize("path,method,body", [
    ("/v1/completions", "POST", {"model": "m", "prompt": "p"}),
    ("/v1/embeddings", "POST", {"model": "m", "input": "e"}),
    ("/v1/models", "GET", None),
])
def test_user_reaches_every_user_route(stack, path, method, body):
    r = stack.request(method, path, stack.mint(roles="user"), body=body)
    assert_upstream_answered(r)


def test_exp_within_clock_skew_is_accepted(stack):
    # exp 30 s ago, default skew 60 s.
    token = stack.mint(ttl=270, extra=("--iat-offset", "-300"))
    assert_upstream_answered(stack.chat(token))


def test_nbf_within_clock_skew_is_accepted(stack):
    token = stack.mint(extra=("--nbf-offset", "30"))
    assert_upstream_answered(stack.chat(token))


def test_streamed_answer_passes_through_intact(stack):
    text = "stream me through the filter, please"
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}]}
    r = stack.request("POST", "/v1/chat/completions", stack.mint(), body=body)
    assert_upstream_answered(r)
    assert r.header("content-type") == "text/event-stream"
    events = harness.parse_sse(r.body)
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"]) == text
    assert events[-2]["usage"]["completion_tokens"] == 9


# ---------------------------------------------------------------------------
# 401: every way a token can be wrong
# ---------------------------------------------------------------------------

def test_missing_token_is_401_with_a_bare_challenge(stack):
    r = stack.chat(None)
    assert_denied(r, 401, "jwt_missing")
    assert r.header("www-authenticate") == "Bearer"


def _big_token():
    token = hs256_token(claims(pad="x" * 9000))
    assert len(token) > 9 * 1024
    return token


# Each case: code, a function of the minter that builds the token.
INVALID_TOKENS = {
    "expired": ("jwt_expired", lambda m: m.mint(ttl=180, extra=("--iat-offset", "-300"))),  # exp = now - 120
    "not_yet_valid": ("jwt_not_yet_valid", lambda m: m.mint(extra=("--nbf-offset", "300"))),
    "tampered_payload": ("jwt_invalid_signature", lambda m: tamper_payload(m.mint(), sub="mallory", roles=["admin"])),
    "tampered_signature": ("jwt_invalid_signature", lambda m: tamper_signature(m.mint(alg="RS256"))),
    "wrong_hmac_secret": ("jwt_invalid_signature", lambda m: hs256_token(claims(), secret=b"not-the-demo-secret")),
    "wrong_audience": ("jwt_wrong_audience", lambda m: m.mint(aud="someone-else")),
    "unknown_issuer": ("jwt_unknown_issuer", lambda m: m.mint(iss="https://evil.test")),
    "alg_none": ("jwt_unsupported_alg", lambda m: unsigned_token(claims(), {"alg": "none", "typ": "JWT"})),
    "garbage": ("jwt_malformed", lambda m: "garbage"),
    "two_segments": ("jwt_malformed", lambda m: "abc.def"),
    "not_base64": ("jwt_malformed", lambda m: "!!!.***.###"),
    "too_large": ("jwt_too_large", lambda m: _big_token()),
    "unknown_kid": ("jwt_unknown_kid",
                    lambda m: m.mint(key=KEYS / "es256-rotated.pem", kid="demo-never-published")),
    "missing_exp": ("jwt_missing_exp", lambda m: m.mint(extra=("--no-exp",))),
    "crit_header": ("jwt_crit_unsupported",
                    lambda m: hs256_token(claims(), {"alg": "HS256", "kid": "demo-hs256", "crit": ["x"], "x": 1})),
}


@pytest.mark.parametrize("case", sorted(INVALID_TOKENS))
def test_invalid_token_is_401_with_its_code(stack, case):
    code, build = INVALID_TOKENS[case]
    token = build(stack.minter)
    r = stack.chat(token)
    assert_invalid_token(r, code, token)


def test_hmac_signed_with_a_public_key_is_refused(stack):
    # The classic confusion: an RS256 key id, HS256, the public key as the secret.
    public_pem = (KEYS / "rs256.pub.pem").read_bytes()
    header = {"alg": "HS256", "typ": "JWT", "kid": "demo-rs256"}
    for secret in (public_pem, public_pem.strip()):
        token = hs256_token(claims(), header, secret=secret)
        r = stack.chat(token)
        assert r.status == 401, r
        assert r.json()["error"]["code"] in {"jwt_unsupported_alg", "jwt_invalid_signature"}, r
        assert_no_token(r, token)


def test_token_signed_by_a_key_of_another_algorithm_is_refused(stack):
    # Signed ES256 but names the RSA key.
    token = stack.mint(alg="ES256", key=KEYS / "es256.pem", kid="demo-rs256")
    r = stack.chat(token)
    assert r.status == 401, r
    assert r.json()["error"]["code"] in {"jwt_unsupported_alg", "jwt_invalid_signature"}, r


def test_bearer_scheme_is_case_insensitive_but_required(stack):
    token = stack.mint()
    assert_upstream_answered(stack.request("POST", "/v1/chat/completions", headers={"authorization": f"bearer {token}"},
                                           body={"messages": [{"role": "user", "content": "x"}]}))
    r = stack.request("POST", "/v1/chat/completions", headers={"authorization": f"Basic {token}"},
                      body={"messages": [{"role": "user", "content": "x"}]})
    assert r.status == 401 and r.header("x-mock-upstream") is None, r
    assert_no_token(r, token)


# ---------------------------------------------------------------------------
# 403 / 404: authorization and routes
# ---------------------------------------------------------------------------

def test_user_role_is_forbidden_on_fine_tuning(stack):
    token = stack.mint(roles="user")
    assert_denied(stack.request("GET", "/v1/fine_tuning/jobs", token), 403, "forbidden_role", token)


def test_admin_role_reaches_fine_tuning(stack):
    r = stack.request("GET", "/v1/fine_tuning/jobs", stack.mint(roles="admin"))
    assert_upstream_answered(r)
    assert r.json()["object"] == "list"


def test_token_without_any_role_is_forbidden(stack):
    token = hs256_token(claims(roles=None))
    assert_denied(stack.chat(token), 403, "forbidden_role", token)


def test_roles_are_read_from_a_space_delimited_scope(stack):
    assert_upstream_answered(stack.chat(hs256_token(claims(roles=None, scope="openid user"))))
    token = hs256_token(claims(roles=None, scope="openid profile"))
    assert_denied(stack.chat(token), 403, "forbidden_role", token)


def test_roles_are_read_from_an_scp_array(stack):
    token = hs256_token(claims(roles=None, scp=["admin"]))
    assert_upstream_answered(stack.request("GET", "/v1/fine_tuning/jobs", token))


def test_unknown_path_is_404_route_not_found(stack):
    assert_denied(stack.request("GET", "/v1/unknown", stack.mint()), 404, "route_not_found")
    assert_denied(stack.request("GET", "/admin"), 404, "route_not_found")


def test_method_outside_the_route_is_404(stack):
    # The chat route is POST only.
    assert_denied(stack.request("GET", "/v1/chat/completions", stack.mint()), 404, "route_not_found")


# ---------------------------------------------------------------------------
# Claims forwarded to the upstream
# ---------------------------------------------------------------------------

def upstream_saw(stack, mark: str) -> dict:
    seen = harness.wait_until(lambda: stack.mock.find_requests(mark), timeout=5, what="the upstream request")
    assert len(seen) == 1, seen
    return seen[0]


def header_values(request: dict, name: str) -> list:
    return [v for k, v in request["header_list"] if k == name]


def test_claims_are_forwarded_as_headers(stack):
    mark = marker()
    r = stack.chat(stack.mint(sub="alice", roles="user,admin"), headers={"x-test-id": mark})
    assert_upstream_answered(r)
    seen = upstream_saw(stack, mark)
    assert header_values(seen, "x-tollgate-sub") == ["alice"]
    roles = header_values(seen, "x-tollgate-roles")
    assert len(roles) == 1 and "user" in roles[0] and "admin" in roles[0], roles


def test_client_sent_claim_headers_are_overwritten(stack):
    mark = marker()
    spoofed = {"x-test-id": mark, "x-tollgate-sub": "mallory", "x-tollgate-roles": "superuser"}
    assert_upstream_answered(stack.chat(stack.mint(sub="alice", roles="user"), headers=spoofed))
    seen = upstream_saw(stack, mark)
    assert header_values(seen, "x-tollgate-sub") == ["alice"]
    roles = header_values(seen, "x-tollgate-roles")
    assert len(roles) == 1 and "superuser" not in roles[0] and "user" in roles[0], roles


def test_client_sent_claim_headers_are_removed_on_anonymous_routes(stack):
    mark = marker()
    r = stack.request("GET", "/healthz", headers={"x-test-id": mark, "x-tollgate-sub": "mallory",
                                                  "x-tollgate-roles": "admin"})
    assert_upstream_answered(r)
    seen = upstream_saw(stack, mark)
    assert header_values(seen, "x-tollgate-sub") == []
    assert header_values(seen, "x-tollgate-roles") == []


def test_refused_requests_never_reach_the_upstream(stack):
    mark = marker()
    stack.chat("garbage", headers={"x-test-id": mark})
    stack.request("GET", "/v1/fine_tuning/jobs", stack.mint(roles="user"), headers={"x-test-id": mark})
    time.sleep(0.2)
    assert stack.mock.find_requests(mark) == []


# ---------------------------------------------------------------------------
# Load and hygiene
# ---------------------------------------------------------------------------

def test_fifty_concurrent_requests_all_succeed(stack):
    tokens = [stack.mint(alg=alg) for alg in ("HS256", "RS256", "ES256", "EdDSA")]

    def one(i):
        text = f"request {i} {marker()}"
        r = stack.chat(tokens[i % len(tokens)], text)
        return r.status, r.json()["choices"][0]["message"]["content"] if r.status == 200 else r.text(), text

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    failures = [(status, body) for status, body, _ in results if status != 200]
    assert failures == []
    assert all(body == text for _, body, text in results), "an answer reached the wrong request"


def test_tokens_and_secrets_never_reach_the_envoy_log(stack):
    sent = [stack.mint(), stack.mint(alg="HS256"), tamper_signature(stack.mint(alg="EdDSA")),
            stack.mint(key=KEYS / "es256-rotated.pem", kid="demo-leak-check"), stack.mint(aud="nope"),
            unsigned_token(claims(), {"alg": "none"}), _big_token()]
    for token in sent:
        stack.chat(token)
    time.sleep(0.5)  # Envoy writes its log asynchronously
    log = stack.log_text()
    assert "wasm log tollgate" in log  # the filter's own lines are in this log
    for token in sent:
        for part in token_parts(token):
            assert part not in log, "a token (or its signature) was written to the Envoy log"
    secret = harness.hs256_secret()
    assert secret.decode() not in log
    assert harness.base64.b64encode(secret).decode() not in log


# ---------------------------------------------------------------------------
# Other configurations of the same filter
# ---------------------------------------------------------------------------

def demo_plugin() -> dict:
    return harness.plugin_config(harness.demo_yaml())


def test_inline_jwks_and_pem_keys_need_no_fetch(new_stack):
    cfg = demo_plugin()
    provider = cfg["auth"]["providers"][0]
    del provider["remote_jwks"]
    jwks = json.loads((KEYS / "jwks.json").read_text())
    provider["jwks"] = {"keys": [k for k in jwks["keys"] if k["kid"] == "demo-rs256"]}
    provider["pem"] = [{"kid": "demo-ed25519", "alg": "EdDSA", "pem": (KEYS / "ed25519.pub.pem").read_text()}]
    s = new_stack(plugin=cfg)
    assert_upstream_answered(s.chat(s.mint(alg="RS256")))
    assert_upstream_answered(s.chat(s.mint(alg="EdDSA")))
    assert_upstream_answered(s.chat(s.mint(alg="HS256")))
    token = s.mint(alg="ES256")  # its key is only in the remote JWKS, which this config lacks
    assert_invalid_token(s.chat(token), "jwt_unknown_kid", token)
    assert s.mock.stats()["jwks_fetches"] == 0


def test_token_from_a_named_header_or_query_and_authorization_stripped(new_stack):
    cfg = demo_plugin()
    cfg["auth"]["token_sources"] = [{"header": "authorization", "prefix": "Bearer "},
                                    {"header": "x-api-token"}, {"query": "access_token"}]
    cfg["auth"]["strip_authorization"] = True
    del cfg["auth"]["upstream_credential"]  # it would set authorization itself
    s = new_stack(plugin=cfg)
    token = s.mint(alg="HS256")
    body = {"messages": [{"role": "user", "content": "x"}]}
    mark = marker()
    assert_upstream_answered(s.request("POST", "/v1/chat/completions", token, {"x-test-id": mark}, body))
    assert header_values(upstream_saw(s, mark), "authorization") == []
    mark = marker()
    assert_upstream_answered(s.request("POST", "/v1/chat/completions", headers={"x-api-token": token, "x-test-id": mark},
                                       body=body))
    assert header_values(upstream_saw(s, mark), "x-api-token") == [], "every token header is stripped"
    assert_upstream_answered(s.request("POST", f"/v1/chat/completions?access_token={token}", body=body))
    r = s.request("POST", "/v1/chat/completions?access_token=garbage", body=body)
    assert_invalid_token(r, "jwt_malformed", "garbage")
