"""Ambiguous paths and method-override headers through the real Envoy (issue 11, F3).

Two stacks:
- `stack` (the demo): Envoy normalises (`normalize_path`, `merge_slashes`,
  `path_with_escaped_slashes_action: REJECT_REQUEST`), so a dot-segment path is
  routed as what it resolves to, and the filter refuses what stays ambiguous.
- `raw`: the same with Envoy's normalisation switched off, as on Kong or an Istio
  without it: the filter's own checks must refuse every variant with 400
  `invalid_path`, and nothing reaches the upstream.
"""
import pytest

import harness
from checks import assert_denied, assert_upstream_answered, marker

NORMALISATION = (
    "          normalize_path: true\n"
    "          merge_slashes: true\n"
    "          path_with_escaped_slashes_action: REJECT_REQUEST\n"
)

# Each of these, by a `user` token, tried to reach the admin-only fine-tuning route.
TRAVERSALS = [
    ("GET", "/v1/models/../fine_tuning/jobs"),
    ("GET", "/v1/models/%2e%2e/fine_tuning/jobs"),
    ("GET", "/v1/models/%2E%2E/fine_tuning/jobs"),
    ("GET", "/v1/models/.%2e/fine_tuning/jobs"),
    ("GET", "/v1/models/..;/fine_tuning/jobs"),
    ("GET", "/v1/models/%252e%252e/fine_tuning/jobs"),
    ("GET", "/v1/models/..%2ffine_tuning/jobs"),
    ("GET", "/v1/models/..%5cfine_tuning/jobs"),
    ("GET", "/v1/models/..\\fine_tuning\\jobs"),
    ("POST", "/v1/chat/completions/../../fine_tuning/jobs"),
]


@pytest.fixture(scope="module")
def raw(run_dir, minter):
    text = harness.demo_yaml()
    assert NORMALISATION in text, "the demo must normalise paths"
    s = harness.start_stack(run_dir / "paths-raw", minter, yaml_text=text.replace(NORMALISATION, ""))
    yield s
    s.stop()


def reached_upstream(stack, tag: str) -> list:
    return stack.mock.find_requests(tag)


@pytest.mark.parametrize("method,path", TRAVERSALS)
def test_filter_refuses_ambiguous_paths_without_envoy_normalisation(raw, method, path):
    tag = marker()
    token = raw.mint(alg="HS256", roles="user")
    r = harness.raw_request(raw.url, method, path, {"authorization": f"Bearer {token}", "x-test-id": tag},
                            body_parts=[b"{}"] if method == "POST" else (), chunked=method == "POST")
    assert_denied(r, 400, "invalid_path", token)
    assert reached_upstream(raw, tag) == []


@pytest.mark.parametrize("method,path", TRAVERSALS)
def test_demo_never_serves_the_admin_route_to_a_user(stack, method, path):
    tag = marker()
    token = stack.mint(alg="HS256", roles="user")
    r = harness.raw_request(stack.url, method, path, {"authorization": f"Bearer {token}", "x-test-id": tag},
                            body_parts=[b"{}"] if method == "POST" else (), chunked=method == "POST")
    # Envoy resolves dot segments, so the filter sees /v1/fine_tuning/jobs (403), or
    # Envoy refuses an escaped slash (400), or the filter refuses what stays ambiguous.
    assert r.status in (400, 403), r
    if r.status == 403:
        assert_denied(r, 403, "forbidden_role", token)
    assert reached_upstream(stack, tag) == []


def test_an_admin_still_reaches_the_normalised_route(stack):
    tag = marker()
    token = stack.mint(alg="HS256", roles="admin")
    r = harness.raw_request(stack.url, "GET", "/v1/models/../fine_tuning/jobs",
                            {"authorization": f"Bearer {token}", "x-test-id": tag}, chunked=False)
    assert_upstream_answered(r)
    [seen] = reached_upstream(stack, tag)
    assert seen["path"] == "/v1/fine_tuning/jobs"


def test_a_query_may_hold_anything(stack):
    token = stack.mint(alg="HS256", roles="user")
    r = stack.request("GET", "/v1/models?q=../..;%2e%2F", token)
    assert_upstream_answered(r)


def test_method_override_and_rewrite_headers_never_reach_the_upstream(stack):
    tag = marker()
    token = stack.mint(alg="HS256", roles="user")
    sent = {"x-http-method-override": "DELETE", "x-http-method": "DELETE", "x-method-override": "DELETE",
            "x-original-url": "/v1/fine_tuning/jobs", "x-rewrite-url": "/v1/fine_tuning/jobs",
            "x-forwarded-prefix": "/admin", "x-test-id": tag}
    r = stack.request("GET", "/v1/models", token, headers=sent)
    assert_upstream_answered(r)
    [seen] = reached_upstream(stack, tag)
    for name in sent:
        if name != "x-test-id":
            assert name not in seen["headers"], name
