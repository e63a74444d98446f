"""promtool's unit test of the recording rules' outage counts (rules/tests/availability_test.yml):
an outage spanning the whole window is one outage, a change inside an exporter gap is
counted once."""

from __future__ import annotations

import subprocess

from tests.support import REPO


def test_recording_rules_count_an_outage_spanning_the_window() -> None:
    result = subprocess.run(["promtool", "test", "rules", "rules/tests/availability_test.yml"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
