# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/summary.py, the end of `make test`: its last line counts the test cases and names the skipped sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SUMMARY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "summary.py")
JUNIT = ('<testsuite tests="3" failures="1" errors="0" skipped="0"><testcase name="a"/><testcase name="b"/>'
         '<testcase classname="tests.unit.test_x" name="c"><failure message="assert 1 == 2&#10;more">x</failure>'
         '</testcase></testsuite>')


def _summary(tmp_path, sessions: list[dict]) -> tuple[int, list[str]]:
    (tmp_path / "nox-report.json").write_text(json.dumps({"sessions": sessions}), encoding="utf-8")
    (tmp_path / "junit-units-2.19-python3.11-modules-units.xml").write_text(JUNIT, encoding="utf-8")
    done = subprocess.run([sys.executable, SUMMARY, str(tmp_path / "nox-report.json")], capture_output=True, text=True,
                          check=False)
    return done.returncode, done.stdout.strip().splitlines()


def test_skipped_sessions_are_named_in_the_last_line(tmp_path) -> None:
    code, lines = _summary(tmp_path, [
        {"name": "codeqa", "result": "success"},
        {"name": "units-2.19", "result": "failed"},
        {"name": "sanity-2.21", "result": "skipped", "reason": "no Python 3.12 interpreter"},
        {"name": "units-2.21", "result": "skipped", "reason": "no Python 3.12 interpreter"}])
    assert lines[-1] == "summary: 3 passed, 1 failed, 2 sessions skipped: sanity-2.21, units-2.21"
    assert code == 1


def test_nothing_skipped_says_so(tmp_path) -> None:
    code, lines = _summary(tmp_path, [{"name": "codeqa", "result": "success"}])
    assert lines[-1] == "summary: 1 passed, 0 failed, 0 sessions skipped" and code == 0


def test_the_failed_test_cases_are_named_just_above_the_last_line(tmp_path) -> None:
    code, lines = _summary(tmp_path, [{"name": "units-2.19", "result": "failed"}])
    assert lines[-2] == "FAILED units-2.19: tests.unit.test_x::c: assert 1 == 2"
    assert lines[-1].startswith("summary: 2 passed, 1 failed") and code == 1
