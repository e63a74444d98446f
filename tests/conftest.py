"""Suite-wide rules: tests that need a private network namespace run in CI or fail.

On a laptop without root or user namespaces they skip with the reason; with CI=true
every skip is turned into a failure, so a green CI means everything really ran.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests in CI are seeded (the same examples every run: a red CI is reproducible,
# never a lucky draw); scripts/fuzz runs them randomised and longer.
settings.register_profile("ci", derandomize=True, database=None)
if IN_CI and not os.environ.get("WARDOPS_FUZZ_SCALE"):
    settings.load_profile("ci")

# Programs the tests start (`python -m alerter`, the webhook sink, ...) import wardops from
# this checkout, not from wherever the virtualenv's editable install points: a second
# work tree (git worktree, a clean clone sharing a venv) must test its own code.
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_REPO, os.environ.get("PYTHONPATH", "")) if p)
IN_NETNS = os.environ.get("WARDOPS_NETNS") == "1"


@pytest.fixture
def netns() -> None:
    """Require the private network namespace set up by scripts/in-netns."""
    if not IN_NETNS:
        pytest.skip("needs a private network namespace: run via scripts/test or scripts/in-netns "
                    "(root or unprivileged user namespaces)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, which must run everything: {reason}"
