"""The audit record reaches Envoy's access log (audit.sink: filter_state, the
demo) or the Wasm log (audit.sink: log, for hosts without access logs, Kong).
"""
import uuid

import harness

MARK = '"type":"tollgate.audit"'


def lines_for(stack, tag: str) -> list:
    return [line for line in stack.log_text().splitlines() if MARK in line and tag in line]


def test_the_demo_hands_the_record_to_the_access_log(stack):
    tag = uuid.uuid4().hex
    r = stack.chat(stack.mint(), headers={"x-request-id": tag})
    assert r.status == 200, r
    record = stack.audit_for(tag)
    assert record["route"] == "chat" and record["status"] == 200
    lines = lines_for(stack, tag)
    # Written by the access logger: the bare record, not a Wasm log line.
    assert len(lines) == 1 and lines[0].startswith("{"), lines
    assert "wasm log" not in lines[0]


def test_the_log_sink_writes_a_wasm_log_line(new_stack):
    cfg = harness.plugin_config(harness.demo_yaml())
    cfg["audit"]["sink"] = "log"
    s = new_stack(plugin=cfg)
    tag = uuid.uuid4().hex
    assert s.chat(s.mint(), headers={"x-request-id": tag}).status == 200
    assert s.audit_for(tag)["status"] == 200
    lines = lines_for(s, tag)
    assert len(lines) == 1 and "wasm log" in lines[0], lines
