# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of `make test`: a table of the nox sessions and ONE line `summary: N passed, M failed, K sessions skipped`
(with the names of the skipped sessions: a session that did not run, e.g. ansible-core 2.21 without Python 3.12, is
neither passed nor failed, and must not go unseen).

    python tests/summary.py tests/output/ci/nox-report.json

A session that wrote junit XML (tests/output/ci/junit-SESSION*.xml: pytest, ansible-test integration) counts its
test cases; any other session counts as one check. A failed session whose XML shows no failure counts one failure
more (it broke outside the test cases). The failed test cases are named above the summary line, with the first
line of their message, so that the last lines of a CI log say what broke. Exit status 1 when anything failed or nox
left no report.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET

MAX_FAILURES_SHOWN = 10


def read_junit(paths: list[str]) -> tuple[int, int, int, list[str]]:
    """(passed, failed, skipped, failures) over the test suites of these junit XML files, each read once; a failure is
    `classname::test: first line of the message` (an unreadable file counts as one, named by its file name)."""
    passed = failed = skipped = 0
    failures = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as error:
            failed += 1
            failures.append("%s: unreadable junit XML (%s)" % (os.path.basename(path), error))
            continue
        for suite in [root] if root.tag == "testsuite" else root.iter("testsuite"):
            total = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed, failed, skipped = passed + total - bad - skip, failed + bad, skipped + skip
        for case in root.iter("testcase"):
            problem = case.find("failure")
            problem = problem if problem is not None else case.find("error")
            if problem is not None:
                failures.append(_failure_line(case, problem))
    return passed, failed, skipped, failures


def _failure_line(case: ET.Element, problem: ET.Element) -> str:
    message = (problem.get("message") or problem.text or "").strip().splitlines()
    return "%s::%s: %s" % (case.get("classname", ""), case.get("name", ""), message[0][:160] if message else "(no message)")


def summary_line(passed: int, failed: int, skipped_sessions: list[str]) -> str:
    """The last line: what passed and failed, and which sessions did not run at all (they count neither way)."""
    skipped = "%d session%s skipped" % (len(skipped_sessions), "" if len(skipped_sessions) == 1 else "s")
    if skipped_sessions:
        skipped += ": " + ", ".join(skipped_sessions)
    return "summary: %d passed, %d failed, %s" % (passed, failed, skipped)


def main() -> int:
    report_path = sys.argv[1]
    results_dir = os.path.dirname(os.path.abspath(report_path))
    try:
        with open(report_path, encoding="utf-8") as handle:
            sessions = json.load(handle)["sessions"]
    except (OSError, ValueError, KeyError) as error:
        print("no nox report (%s): nox did not run to its end" % error)
        print(summary_line(0, 1, []))
        return 1
    total_passed = total_failed = 0
    skipped_sessions = []
    failures = []
    print("\n%-28s %-8s %s" % ("session", "result", "test cases"))
    for session in sessions:
        name, result = session["name"], session["result"]
        xml = sorted(os.path.join(results_dir, f) for f in os.listdir(results_dir)
                     if f.startswith("junit-%s" % name) and f.endswith(".xml"))
        if result == "skipped":
            note = (session.get("reason") or "").strip()
            passed = failed = 0
            skipped_sessions.append(name)
        elif xml:
            passed, failed, skipped, failed_cases = read_junit(xml)
            failures += ["%s: %s" % (name, failure) for failure in failed_cases]
            if result != "success" and failed == 0:
                failed = 1
            note = "%d passed, %d failed, %d skipped" % (passed, failed, skipped)
        else:
            passed, failed = (1, 0) if result == "success" else (0, 1)
            note = ""
        total_passed, total_failed = total_passed + passed, total_failed + failed
        print("%-28s %-8s %s" % (name, result, note))
    for failure in failures[:MAX_FAILURES_SHOWN]:
        print("FAILED " + failure)
    if len(failures) > MAX_FAILURES_SHOWN:
        print("FAILED ... and %d more (tests/output/ci/junit-*.xml)" % (len(failures) - MAX_FAILURES_SHOWN))
    print(summary_line(total_passed, total_failed, skipped_sessions))
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
