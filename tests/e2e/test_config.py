"""Envoy configurations: every file in envoy/ validates, and a bad plugin
configuration is refused with a log line naming the field.

What Envoy 1.40 does with a plugin whose on_configure returns false: it logs
the plugin's own message, then "Wasm VM failed Failed to configure base Wasm
plugin" and "Unable to create Wasm plugin tollgate", and, the listener being
static, exits with status 1 before it ever listens. `--mode validate` loads
the VM and runs on_configure too, so it refuses the same configurations.
"""
import copy

import pytest

import harness

ENVOY_DIR = harness.REPO / "envoy"


def demo_plugin() -> dict:
    return harness.plugin_config(harness.demo_yaml())


def _envoy_bootstraps() -> list:
    """Every Envoy bootstrap under envoy/ (compose, Istio and Kong manifests are not)."""
    return sorted(p.relative_to(harness.REPO).as_posix() for p in ENVOY_DIR.rglob("*.y*ml")
                  if any(line.startswith("static_resources:") for line in p.read_text().splitlines()))


def test_the_demo_is_among_the_validated_configs():
    assert "envoy/envoy.yaml" in _envoy_bootstraps()


@pytest.mark.parametrize("path", _envoy_bootstraps())
def test_every_envoy_config_validates(path, workdir):
    harness.wasm_path()  # validation loads the filter: fail clearly if it is not built
    done = harness.validate(workdir, (harness.REPO / path).read_text())
    assert done.returncode == 0, done.stdout + done.stderr
    assert " OK" in done.stdout + done.stderr


def _unknown_provider_field(cfg):
    cfg["auth"]["providers"][0]["audience"] = "tollgate-demo"  # the field is `audiences`
    return "auth.providers[0]", "audience"


def _empty_issuer(cfg):
    cfg["auth"]["providers"][0]["issuer"] = ""
    return "auth.providers[0].issuer", None


def _unknown_method(cfg):
    cfg["routes"][1]["match"]["methods"] = ["FETCH"]
    return "routes[1].match.methods[0]", "FETCH"


def _unknown_top_level(cfg):
    cfg["rate_limits"] = {}
    return "rate_limits", None


def _bad_hmac_secret(cfg):
    cfg["auth"]["providers"][0]["hmac"][0]["secret_base64"] = "s3cr3t!not*base64"
    return "auth.providers[0].hmac[0].secret_base64", None


def _route_names_unknown_provider(cfg):
    cfg["routes"][1]["providers"] = ["nobody"]
    return "routes[1].providers[0]", "nobody"


BAD_CONFIGS = {f.__name__.lstrip("_"): f for f in (
    _unknown_provider_field, _empty_issuer, _unknown_method, _unknown_top_level, _bad_hmac_secret,
    _route_names_unknown_provider)}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_plugin_config_fails_validation_naming_the_field(case, workdir):
    cfg = copy.deepcopy(demo_plugin())
    field, word = BAD_CONFIGS[case](cfg)
    text = harness.with_plugin_config(harness.demo_yaml(), cfg)
    done = harness.validate(workdir, text)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    lines = [line for line in output.splitlines() if field in line]
    assert lines, f"no log line names `{field}`:\n{output[-3000:]}"
    if word:
        assert any(word in line for line in lines), lines
    assert "Unable to create Wasm plugin" in output
    assert "s3cr3t!not*base64" not in output, "a secret was written to the log"


def test_malformed_json_config_is_refused(workdir):
    text = harness.with_plugin_config(harness.demo_yaml(), '{"auth": {"providers": [')
    done = harness.validate(workdir, text)
    assert done.returncode != 0
    assert "Unable to create Wasm plugin" in done.stdout + done.stderr


def test_envoy_refuses_to_start_with_a_bad_config_and_says_why(run_dir):
    cfg = demo_plugin()
    cfg["auth"]["providers"][0]["issuer"] = ""
    mock = harness.Mock(run_dir / "bad-config")
    try:
        text = harness.free_port_yaml(harness.with_plugin_config(harness.demo_yaml(), cfg), mock.port,
                                      harness.wasm_path())
        envoy = harness.Envoy(run_dir / "bad-config", text)
        try:
            status = envoy.wait_exit(30)
            log = envoy.log_text()
            assert status is not None, "Envoy kept running with an invalid plugin configuration"
            assert status != 0
            ours = [line for line in log.splitlines() if "auth.providers[0].issuer" in line]
            assert ours, log[-3000:]
            assert "[error]" in ours[0] or "[critical]" in ours[0], ours[0]
            assert mock.stats()["requests"] == 0  # nothing was ever served
        finally:
            envoy.stop()
    finally:
        mock.stop()


def test_demo_config_is_what_the_tests_rewrite():
    # The harness swaps these ports for free ones; if they move, it must follow.
    text = harness.demo_yaml()
    assert text.count("port_value: 10000") == 1
    assert text.count("port_value: 9901") == 1
    assert text.count("port_value: 10001") == 2
    assert text.count(f"port_value: {harness.MCP_PORT}") == 1
    assert text.count(harness.WASM_IN_CONFIG) == 1
    cfg = demo_plugin()
    assert cfg["auth"]["providers"][0]["issuer"] == harness.ISSUER
    # The LLM APIs' audience, and the MCP server's canonical URI (RFC 8707).
    assert cfg["auth"]["providers"][0]["audiences"][0] == harness.AUDIENCE
    assert cfg["unmatched"] == "deny"
