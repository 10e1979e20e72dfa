"""Fixtures for the real-Envoy tests: see harness.py for the machinery.

`stack` is one mock upstream and one Envoy (`--concurrency 2`) with the demo
configuration, shared by the session. `new_stack` starts a private pair for a
test that changes state the others rely on (key rotation, another plugin
configuration); it is stopped when the test ends.

Logs of the last run stay in tests/.run/ for reading after a failure.
"""
import itertools
import shutil
import time

import pytest

# Plain `assert`s in the helper modules get pytest's detailed messages too.
pytest.register_assert_rewrite("checks", "harness")

import harness  # noqa: E402


@pytest.fixture(scope="session")
def run_dir():
    if harness.RUN_ROOT.exists():
        shutil.rmtree(harness.RUN_ROOT)
    harness.RUN_ROOT.mkdir(parents=True)
    return harness.RUN_ROOT


@pytest.fixture(scope="session")
def minter():
    return harness.Minter()


def _warm_up(stack: harness.Stack) -> None:
    """Waits for what a user would wait for after `make run`: the first JWKS fetch.

    Soft: if it never happens the tests that depend on it fail with their own,
    more precise messages.
    """
    try:
        harness.wait_until(lambda: stack.mock.stats()["jwks_fetches"] >= 1, timeout=10, what="the first JWKS fetch")
    except TimeoutError as err:
        stack.notes.append(str(err))


@pytest.fixture(scope="session")
def stack(run_dir, minter):
    s = harness.start_stack(run_dir / "demo", minter)
    _warm_up(s)
    yield s
    s.stop()


@pytest.fixture
def new_stack(run_dir, minter, request):
    """Factory: new_stack(plugin=None, jwks=None) -> a private, running Stack."""
    started = []
    counter = itertools.count()

    def make(plugin=None, jwks=None, yaml_text=None):
        workdir = run_dir / f"{request.node.name}-{next(counter)}"
        s = harness.start_stack(workdir, minter, plugin=plugin, jwks=jwks, yaml_text=yaml_text)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def workdir(run_dir, request):
    path = run_dir / f"{request.node.name}-{int(time.time() * 1000)}"
    path.mkdir(parents=True)
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    s = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if isinstance(s, harness.Stack):
        tail = "\n".join(s.log_text().splitlines()[-40:])
        report.sections.append(("envoy log (last 40 lines)", tail))
        if s.notes:
            report.sections.append(("harness notes", "\n".join(s.notes)))
