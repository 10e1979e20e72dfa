"""Hostile tokens against the real Envoy (issue 8): every one is refused with
401 and a stable code from README's table, none is a 5xx, and the worker that
refused it serves the next valid request on the same connection.

Tokens are hand-made (stdlib hmac/base64/json, and `openssl` for an
attacker's EC key) or minted by `tollgate-token` and then tampered with.
"""
import json
import time

import pytest

import harness
import hostile
from checks import CHALLENGE, assert_no_token, marker
from harness import KEYS, claims, hs256_token
from hostile import HS_HEADER, P256_N, b64, hs256_raw, raw_token

def good_token() -> str:
    # Its own subject, so the demo's per-user bucket of other tests is untouched.
    return hs256_token(claims(sub="hostile-follow-up"))


def get_on(client: hostile.RawClient, token: str | None = None, extra: list | None = None,
           path: str = "/v1/models") -> harness.Response:
    """GET (no body): Envoy keeps the connection after a local reply, so the same worker answers the next."""
    lines = list(extra or [])
    if token is not None:
        lines.append(("authorization", f"Bearer {token}"))
    head = f"GET {path} HTTP/1.1\r\nhost: tollgate.test\r\n"
    for name, value in lines:
        head += f"{name}: {value}\r\n"
    client.send(head.encode("latin-1") + b"\r\n")
    return client.read_response()


def assert_refused_then_served(stack, token: str | None, codes: set, extra: list | None = None,
                               path: str = "/v1/models") -> harness.Response:
    """The hostile request gets 401 with one of `codes`; a valid one on the same connection gets 200."""
    client = hostile.RawClient(stack.url)
    try:
        r = get_on(client, token, extra, path)
        assert r.status == 401, r
        assert r.header("x-mock-upstream") is None, r
        error = r.json()["error"]
        assert error["code"] in codes, r
        assert error["type"] == "authentication_error", r
        challenge = r.header("www-authenticate")
        assert challenge is not None and CHALLENGE.fullmatch(challenge), f"bad WWW-Authenticate: {challenge!r}"
        if token:
            assert_no_token(r, token)
        follow = get_on(client, good_token())
        assert follow.status == 200 and follow.header("x-mock-upstream") == "1", follow
    finally:
        client.close()
    return r


MINTER = harness.Minter()


def demo_es256() -> str:
    return MINTER.mint(alg="ES256")


def with_signature(token: str, signature: bytes) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{b64(signature)}"


def padded_token(length: int) -> str:
    """A valid HS256 token of exactly `length` characters (a `pad` claim fills it)."""
    pad = max(0, (length - 400) * 3 // 4)
    for _ in range(64):
        token = hs256_token(claims(sub="hostile-follow-up", pad="x" * pad))
        if len(token) == length:
            return token
        pad += (length - len(token)) * 3 // 4 or (1 if len(token) < length else -1)
    raise AssertionError(f"could not make a token of exactly {length} characters")


def dup_payload(first: str, rest: dict) -> str:
    """Payload JSON text whose first member repeats a later key: `{<first>, ...rest}`."""
    return "{" + first + "," + json.dumps(rest)[1:]


def deep_array(levels: int) -> str:
    return "[" * levels + "]" * levels


# name -> (codes, builder() -> token). One code where the filter decides it
# deterministically; each is the README meaning of the case.
CASES = {
    # alg: none, any case, with or without a signature.
    "alg_none_lower": ({"jwt_unsupported_alg"}, lambda: raw_token({"alg": "none"}, claims(), b"")),
    "alg_None": ({"jwt_unsupported_alg"}, lambda: raw_token({"alg": "None", "typ": "JWT"}, claims(), b"")),
    "alg_NONE": ({"jwt_unsupported_alg"}, lambda: raw_token({"alg": "NONE"}, claims(), b"")),
    "alg_nOnE": ({"jwt_unsupported_alg"}, lambda: raw_token({"alg": "nOnE"}, claims(), b"")),
    "alg_none_with_signature": ({"jwt_unsupported_alg"},
                                lambda: raw_token({"alg": "none"}, claims(), b"\x01" * 32)),
    "alg_none_with_demo_kid": ({"jwt_unsupported_alg"},
                               lambda: raw_token({"alg": "none", "kid": "demo-hs256"}, claims(), b"")),
    "alg_unknown": ({"jwt_unsupported_alg"}, lambda: raw_token({"alg": "HS1024"}, claims(), b"x" * 32)),
    "alg_not_a_string": ({"jwt_malformed"}, lambda: raw_token({"alg": ["HS256"]}, claims(), b"x" * 32)),
    # HS256 keyed with the RS256 public key (algorithm confusion).
    "hs256_with_rsa_public_pem_and_rsa_kid": (
        {"jwt_unsupported_alg"},
        lambda: hs256_token(claims(), {"alg": "HS256", "typ": "JWT", "kid": "demo-rs256"},
                            secret=(KEYS / "rs256.pub.pem").read_bytes())),
    "hs256_with_rsa_public_pem_no_kid": (
        {"jwt_invalid_signature"},
        lambda: hs256_token(claims(), {"alg": "HS256", "typ": "JWT"}, secret=(KEYS / "rs256.pub.pem").read_bytes())),
    # Stripped and empty signatures.
    "stripped_signature": ({"jwt_malformed"}, lambda: demo_es256().rsplit(".", 1)[0] + "."),
    "no_signature_part": ({"jwt_malformed"}, lambda: demo_es256().rsplit(".", 1)[0]),
    "hs256_empty_signature": ({"jwt_malformed"}, lambda: hs256_token(claims()).rsplit(".", 1)[0] + "."),
    # CVE-2022-21449 ("psychic signatures"): r or s zero, or equal to the group order.
    "es256_r0_s0": ({"jwt_invalid_signature"}, lambda: with_signature(demo_es256(), bytes(64))),
    "es256_r0_s_valid": ({"jwt_invalid_signature"},
                         lambda: (lambda t: with_signature(t, bytes(32) + harness.b64url_decode(t.split(".")[2])[32:]))(demo_es256())),
    "es256_r_valid_s0": ({"jwt_invalid_signature"},
                         lambda: (lambda t: with_signature(t, harness.b64url_decode(t.split(".")[2])[:32] + bytes(32)))(demo_es256())),
    "es256_r_n_s_n": ({"jwt_invalid_signature"},
                      lambda: with_signature(demo_es256(), P256_N.to_bytes(32, "big") * 2)),
    "es256_short_signature": ({"jwt_invalid_signature"},
                              lambda: (lambda t: with_signature(t, harness.b64url_decode(t.split(".")[2])[:63]))(demo_es256())),
    "es256_der_signature": ({"jwt_invalid_signature"},
                            lambda: with_signature(demo_es256(), b"\x30\x06\x02\x01\x00\x02\x01\x00")),
    # kid as an injection vector: never a path, never a query.
    "kid_path_traversal": ({"jwt_unknown_kid"},
                           lambda: MINTER.mint(alg="ES256", kid="../../../../etc/passwd")),
    "kid_sql": ({"jwt_unknown_kid"}, lambda: MINTER.mint(alg="ES256", kid="' OR 1=1 --")),
    "kid_nul_and_crlf": ({"jwt_unknown_kid"},
                         lambda: hs256_token(claims(), {"alg": "HS256", "kid": "demo-hs256\u0000\r\nx: y"})),
    "kid_not_a_string": ({"jwt_malformed"}, lambda: hs256_token(claims(), {"alg": "HS256", "kid": 7})),
    # crit: never understood.
    "crit_b64": ({"jwt_crit_unsupported"},
                 lambda: hs256_token(claims(), {**HS_HEADER, "crit": ["b64"], "b64": False})),
    "crit_empty": ({"jwt_crit_unsupported"}, lambda: hs256_token(claims(), {**HS_HEADER, "crit": []})),
    # Duplicate JSON members: which one a downstream parser reads is unknowable.
    "duplicate_alg_in_header": (
        {"jwt_malformed"},
        lambda: hs256_raw('{"alg":"none","typ":"JWT","kid":"demo-hs256","alg":"HS256"}', json.dumps(claims()))),
    "duplicate_kid_in_header": (
        {"jwt_malformed"},
        lambda: hs256_raw('{"alg":"HS256","kid":"demo-rs256","kid":"demo-hs256"}', json.dumps(claims()))),
    "duplicate_sub_in_payload": ({"jwt_malformed"},
                                 lambda: hs256_raw(HS_HEADER, dup_payload('"sub":"mallory"', claims()))),
    "duplicate_exp_in_payload": (
        {"jwt_malformed"},
        lambda: hs256_raw(HS_HEADER, dup_payload('"exp":1', claims()))),
    "duplicate_roles_in_payload": (
        {"jwt_malformed"},
        lambda: hs256_raw(HS_HEADER, dup_payload('"roles":["nobody"]', claims()))),
    "duplicate_custom_claim_in_payload": (
        {"jwt_malformed"},
        lambda: hs256_raw(HS_HEADER, dup_payload('"tenant":"a","tenant":"b"', claims()))),
    "duplicate_typ_in_header": (
        {"jwt_malformed"},
        lambda: hs256_raw('{"alg":"HS256","typ":"JWE","kid":"demo-hs256","typ":"JWT"}', json.dumps(claims()))),
    "duplicate_iss_in_payload": ({"jwt_malformed"},
                                 lambda: hs256_raw(HS_HEADER, dup_payload('"iss":"https://evil.test"', claims()))),
    # Nested and JWE-shaped tokens.
    "nested_jwt_as_payload": ({"jwt_malformed"},
                              lambda: hs256_raw({**HS_HEADER, "cty": "JWT"}, hs256_token(claims()))),
    "jwe_five_parts": ({"jwt_malformed"},
                       lambda: ".".join([b64('{"alg":"RSA-OAEP","enc":"A256GCM"}'), b64(b"k" * 256),
                                         b64(b"iv" * 6), b64(b"c" * 40), b64(b"t" * 16)])),
    "jwe_dir_five_parts": ({"jwt_malformed"},
                           lambda: ".".join([b64('{"alg":"dir","enc":"A128CBC-HS256","kid":"demo-hs256"}'), "",
                                             b64(b"iv" * 8), b64(b"c" * 40), b64(b"t" * 16)])),
    "four_parts": ({"jwt_malformed"}, lambda: hs256_token(claims()) + ".AAAA"),
    # Huge and deeply nested claims.
    "over_the_size_cap": ({"jwt_too_large"}, lambda: padded_token(8193)),
    "deeply_nested_array_claim": ({"jwt_malformed"},
                                  lambda: hs256_raw(HS_HEADER, dup_payload('"deep":' + deep_array(1000), claims()))),
    "deeply_nested_object_claim": (
        {"jwt_malformed"},
        lambda: hs256_raw(HS_HEADER, dup_payload('"deep":' + '{"a":' * 600 + "1" + "}" * 600, claims()))),
    "deeply_nested_header": ({"jwt_malformed"},
                             lambda: hs256_raw('{"alg":"HS256","x":' + deep_array(1000) + "}", json.dumps(claims()))),
    # exp that is not a NumericDate.
    "exp_string": ({"jwt_malformed"}, lambda: hs256_token(claims(exp="tomorrow"))),
    "exp_numeric_string": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=str(int(time.time()) + 3600)))),
    "exp_1e300": ({"jwt_malformed"}, lambda: hs256_raw(HS_HEADER, json.dumps(claims(exp=None))[:-1] + ',"exp":1e300}')),
    "exp_2_pow_64": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=2 ** 64))),
    "exp_2_pow_63": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=2 ** 63))),
    "exp_negative": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=-1))),
    "exp_true": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=True))),
    "exp_object": ({"jwt_malformed"}, lambda: hs256_token(claims(exp={"$gt": 0}))),
    "nbf_1e300": ({"jwt_malformed"}, lambda: hs256_raw(HS_HEADER, json.dumps(claims())[:-1] + ',"nbf":1e300}')),
    "iat_negative": ({"jwt_malformed"}, lambda: hs256_token(claims(iat=-5))),
    "exp_in_year_9999_plus": ({"jwt_malformed"}, lambda: hs256_token(claims(exp=253402300800))),
    # Not a JWT at all.
    "payload_is_an_array": ({"jwt_malformed"}, lambda: hs256_raw(HS_HEADER, "[1,2,3]")),
    "payload_invalid_utf8": ({"jwt_malformed"}, lambda: hs256_raw(HS_HEADER, b'{"sub":"\xff\xfe"}')),
    "header_typ_jwe": ({"jwt_malformed"}, lambda: hs256_token(claims(), {**HS_HEADER, "typ": "JWE"})),
    "padding_in_base64": ({"jwt_malformed"},
                          lambda: (lambda t: t.split(".")[0] + "==." + ".".join(t.split(".")[1:]))(hs256_token(claims()))),
}


# Duplicate member names anywhere at the top of the header or payload are
# malformed: a duplicated `roles` could read differently here and upstream.
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_token_is_401_with_a_stable_code(stack, case):
    codes, build = CASES[case]
    assert_refused_then_served(stack, build(), codes)


def test_a_token_of_exactly_the_size_cap_is_accepted(stack):
    token = padded_token(8192)
    assert len(token) == 8192
    client = hostile.RawClient(stack.url)
    try:
        r = get_on(client, token)
        assert r.status == 200 and r.header("x-mock-upstream") == "1", r
    finally:
        client.close()


def test_kid_injection_never_reaches_a_url(stack):
    kid = f"../../hostile-{marker()}/etc/passwd"
    assert_refused_then_served(stack, MINTER.mint(alg="ES256", kid=kid), {"jwt_unknown_kid"})
    time.sleep(0.3)
    paths = [r["path"] for r in stack.mock.requests()]
    assert not [p for p in paths if "passwd" in p or "hostile-" in p], paths


# ---------------------------------------------------------------------------
# Keys named by the token itself: never trusted
# ---------------------------------------------------------------------------

needs_openssl = pytest.mark.skipif(hostile.openssl() is None, reason="needs the openssl command line")


@pytest.fixture(scope="module")
def attacker(tmp_path_factory):
    if hostile.openssl() is None:
        pytest.skip("needs the openssl command line")
    return hostile.ec_keypair(tmp_path_factory.mktemp("attacker"))


@needs_openssl
@pytest.mark.parametrize("extra", [
    "embedded_jwk", "embedded_jwk_with_demo_kid", "jku", "x5u", "jku_and_jwk_with_unknown_kid",
])
def test_keys_named_by_the_token_are_never_trusted(stack, attacker, extra):
    key, jwk = attacker
    mark = marker()
    # The attacker's JWKS URL points at the mock, so a fetch would show up there.
    url = f"{stack.mock.url}/attacker-{mark}/jwks.json"
    header = {"alg": "ES256", "typ": "JWT"}
    codes = {"jwt_invalid_signature"}
    if extra == "embedded_jwk":
        # jwt-simple reads `jwk` as a string: an embedded key object cannot even be decoded.
        header["jwk"] = jwk
        codes = {"jwt_malformed"}
    elif extra == "embedded_jwk_with_demo_kid":
        header.update(jwk=jwk, kid="demo-es256")
        codes = {"jwt_malformed"}
    elif extra == "jku":
        header.update(jku=url, kid="demo-es256")
    elif extra == "x5u":
        header.update(x5u=url)
    else:
        header.update(jku=url, jwk={**jwk, "kid": f"attacker-{mark}"}, kid=f"attacker-{mark}")
        codes = {"jwt_unknown_kid"}
    token = hostile.es256_sign(key, header, claims(sub="mallory", roles=["admin"]))
    assert_refused_then_served(stack, token, codes)
    time.sleep(0.3)
    assert [r["path"] for r in stack.mock.requests() if mark in r["path"]] == []


def test_hs256_keyed_by_an_embedded_oct_jwk_is_refused(stack):
    secret = b"attacker-chosen-secret-32-bytes!"
    header = {"alg": "HS256", "typ": "JWT", "jwk": {"kty": "oct", "k": b64(secret)}}
    assert_refused_then_served(stack, hs256_token(claims(), header, secret=secret), {"jwt_malformed"})
    # The same with the key as a string (what jwt-simple can decode): the signature still fails.
    header = {"alg": "HS256", "typ": "JWT", "jwk": json.dumps({"kty": "oct", "k": b64(secret)})}
    assert_refused_then_served(stack, hs256_token(claims(), header, secret=secret), {"jwt_invalid_signature"})


# ---------------------------------------------------------------------------
# Tokens in two places at once
# ---------------------------------------------------------------------------

def test_two_authorization_headers_are_refused(stack):
    a, b = good_token(), hs256_token(claims(sub="mallory"))
    r = assert_refused_then_served(stack, None, {"jwt_malformed"},
                                   extra=[("authorization", f"Bearer {a}"), ("authorization", f"Bearer {b}")])
    assert_no_token(r, a)
    assert_no_token(r, b)


def test_two_authorization_headers_one_of_them_garbage_are_refused(stack):
    a = good_token()
    assert_refused_then_served(stack, None, {"jwt_malformed"},
                               extra=[("authorization", "Bearer garbage"), ("authorization", f"Bearer {a}")])


@pytest.fixture(scope="module")
def two_source_stack(run_dir, minter):
    cfg = hostile.demo_plugin()
    cfg["auth"]["token_sources"] = [{"header": "authorization", "prefix": "Bearer "}, {"query": "access_token"}]
    s = harness.start_stack(run_dir / "hostile-two-sources", minter, plugin=cfg)
    yield s
    s.stop()


def test_two_query_tokens_are_refused(two_source_stack):
    a, b = good_token(), hs256_token(claims(sub="mallory"))
    assert_refused_then_served(two_source_stack, None, {"jwt_malformed"},
                               path=f"/v1/models?access_token={a}&access_token={b}")


def test_an_invalid_header_token_does_not_fall_back_to_a_valid_query_token(two_source_stack):
    # The first source carrying a token decides (README: token_sources); a bad one is never skipped.
    good = good_token()
    r = assert_refused_then_served(two_source_stack, "garbage", {"jwt_malformed"},
                                   path=f"/v1/models?access_token={good}")
    assert_no_token(r, good)


def test_header_and_query_tokens_at_once_the_header_wins(two_source_stack):
    # Documented precedence, not a refusal: the query token is never read, even when it is bad.
    client = hostile.RawClient(two_source_stack.url)
    try:
        r = get_on(client, good_token(), path="/v1/models?access_token=garbage")
        assert r.status == 200 and r.header("x-mock-upstream") == "1", r
        expired = hs256_token(claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200))
        r = get_on(client, expired, path=f"/v1/models?access_token={good_token()}")
        assert r.status == 401 and r.json()["error"]["code"] == "jwt_expired", r
    finally:
        client.close()


# ---------------------------------------------------------------------------
# Afterwards: no VM died, nothing answered 5xx
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def five_xx_before(stack):
    # Other modules share the demo stack and may provoke upstream 5xx on purpose: count ours only.
    return hostile.stats(stack.admin, "downstream_rq_5xx").get("http.tollgate.downstream_rq_5xx", 0)


def test_after_the_hostile_tokens_no_vm_failed_and_no_5xx(stack, five_xx_before):
    vm = hostile.vm_stats(stack.admin)
    assert stack.envoy.proc.poll() is None, "Envoy exited"
    failures = {k: v for k, v in vm.items() if ("fail" in k or "crash" in k or "error" in k) and v}
    assert failures == {}, vm
    five_xx = hostile.stats(stack.admin, "downstream_rq_5xx").get("http.tollgate.downstream_rq_5xx", 0)
    assert five_xx == five_xx_before
    assert "panicked" not in stack.log_text()
