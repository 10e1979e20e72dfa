"""Assertions shared by the real-Envoy tests."""
import re
import uuid

import harness

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error",
               429: "rate_limit_error", 502: "api_error", 503: "api_error"}
# Anthropic's documented error type per status: on Anthropic routes (/v1/messages)
# the refusal's type follows the status, whatever the filter's own type.
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                   500: "api_error", 529: "overloaded_error"}
CHALLENGE = re.compile(r'Bearer error="invalid_token", error_description="[^"\\]+"')


def marker() -> str:
    return uuid.uuid4().hex


def token_parts(token: str) -> list:
    """The token and its signature: neither may ever be echoed or logged."""
    parts = [token]
    signature = token.rsplit(".", 1)[-1]
    if len(signature) >= 16:
        parts.append(signature)
    return parts


def assert_no_token(resp: harness.Response, token) -> None:
    if not token:
        return
    for part in token_parts(token):
        assert part not in resp.text(), "token echoed in the response body"
        for name, value in resp.headers:
            assert part not in value, f"token echoed in response header {name}"


def assert_denied(resp: harness.Response, status: int, code: str, token: str | None = None,
                  error_type: str | None = None) -> dict:
    """A refusal made by the filter: status, JSON error body with the code, no upstream.

    `error_type` defaults to the usual type for the status (ERROR_TYPES).
    """
    assert resp.status == status, resp
    assert resp.header("x-mock-upstream") is None, f"the upstream answered, not the filter: {resp!r}"
    assert (resp.header("content-type") or "").startswith("application/json"), resp
    body = resp.json()
    error = body["error"]
    assert error["code"] == code, resp
    if body.get("type") == "error":  # Anthropic's envelope: {"type":"error","error":{...}}
        assert ANTHROPIC_TYPES.get(status, error_type or ERROR_TYPES[status]) == error["type"], resp
    else:
        assert error["type"] == (error_type or ERROR_TYPES[status]), resp
    assert isinstance(error["message"], str) and error["message"], resp
    assert_no_token(resp, token)
    return error


def assert_invalid_token(resp: harness.Response, code: str, token: str) -> None:
    """401 with the RFC 6750 challenge naming invalid_token."""
    assert_denied(resp, 401, code, token)
    challenge = resp.header("www-authenticate")
    assert challenge is not None and CHALLENGE.fullmatch(challenge), f"bad WWW-Authenticate: {challenge!r}"


def assert_upstream_answered(resp: harness.Response, status: int = 200) -> None:
    assert resp.status == status, resp
    assert resp.header("x-mock-upstream") == "1", resp
