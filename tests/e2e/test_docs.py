"""README keeps up with the demo: every route of envoy/envoy.yaml is in its route table (issue 18)."""
import re

import harness


def test_readme_route_table_lists_every_demo_route():
    readme = (harness.REPO / "README.md").read_text()
    table = readme[readme.index("**Routes and roles.**"):readme.index("**Forwarded claims.**")]
    listed = re.findall(r"^\| `([a-z_]+)` \| `(/[^`]*)`", table, re.M)
    routes = harness.plugin_config(harness.demo_yaml())["routes"]
    demo = [(r["name"], r["match"].get("exact") or r["match"].get("prefix")) for r in routes]
    assert sorted(listed) == sorted(demo)
