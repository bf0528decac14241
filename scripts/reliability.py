# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the reliability tests (issue 5) and regenerate docs/reliability.md from their results.

    python scripts/reliability.py [--python PY] [-n WORKERS] [--out docs/reliability.md] [--render-only]

The tests (tests/integration/test_{faults,bad_input,secrets,tls,concurrency}.py) append one JSON line per scenario
to $ZC_RELIABILITY_RESULTS (tests/integration/ansible_run.py: Scenario); this script empties that file, runs pytest,
and writes the report from what the tests recorded: the fault matrix, the inputs tried, and the counts. Nothing in
the report is typed by hand. Exit status: pytest's (the report is written either way).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_FILES = (["tests/integration/test_%s.py" % name for name in ("faults", "recovery", "bad_input", "secrets", "tls",
                                                                  "concurrency")]
              + ["tests/unit/plugins/modules/test_write_fault_matrix.py"])
DEFAULT_RESULTS = os.path.join(REPO, "tests", "output", "reliability", "results.jsonl")
TARGET_ORDER = ["zenlayer_image", "zenlayer_instance_power", "image_from_instance"]
KILL_MOMENTS = ["after the record", "after the stop", "during the image wait", "during the start"]


def run_tests(python: str, workers: int, results: str, extra: list[str]) -> tuple[int, str]:
    if os.path.exists(results):
        os.remove(results)
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf"] + TEST_FILES + extra
    if workers > 1:
        command += ["-n", str(workers)]
    env = dict(os.environ, ZC_RELIABILITY_RESULTS=results)
    print("$ " + " ".join(command), flush=True)
    process = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    output = process.stdout.decode("utf-8", "replace")
    sys.stdout.write(output[-4000:])
    lines = [line.strip("= ") for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return process.returncode, lines[-1] if lines else "no pytest summary (rc %d)" % process.returncode


def last_summary(results: str) -> str:
    """The pytest line of the run that recorded `results`, kept beside them, for --render-only."""
    try:
        with open(results + ".summary", encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return "(not run: --render-only)"


def load(results: str) -> list[dict]:
    if not os.path.exists(results):
        return []
    with open(results, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def cell(text: str) -> str:
    """One Markdown table cell or list item: pipes escaped, every run of whitespace (newlines too) one space."""
    return " ".join(str(text).split()).replace("|", "\\|")


def mark(record: dict) -> str:
    return "held" if record["held"] else "**BROKE**"


def counts(records: list[dict]) -> dict:
    return {"held": sum(1 for r in records if r["held"]), "tried": len(records),
            "images_duplicated": sum(r.get("images_duplicated", 0) for r in records),
            "instances_left_down": sum(r.get("instances_left_down", 0) for r in records),
            "secrets_leaked": sum(r.get("secrets_leaked", 0) for r in records)}


def fault_matrix(records: list[dict]) -> list[str]:
    faults = [r for r in records if r["category"] == "faults"]
    rows: "OrderedDict[str, dict]" = OrderedDict()
    for record in sorted(faults, key=lambda r: r["scenario"]):
        rows.setdefault(record["scenario"], {})[record["target"]] = record
    lines = ["| fault | " + " | ".join(TARGET_ORDER) + " |", "|---|" + "---|" * len(TARGET_ORDER)]
    for scenario, by_target in rows.items():
        cells = []
        for target in TARGET_ORDER:
            record = by_target.get(target)
            cells.append("n/a" if record is None else "%s: %s" % (mark(record), cell(record["outcome"][:160])))
        lines.append("| %s | %s |" % (cell(scenario), " | ".join(cells)))
    return lines


def kill_matrix(records: list[dict]) -> list[str]:
    """Time to repair per cell of the kill matrix: signal x moment, per path (role, fleet)."""
    cells = [r for r in records if r.get("repair_seconds") is not None]
    lines = []
    for path in sorted({r.get("kill_path", "role") for r in cells}):
        mine = [r for r in cells if r.get("kill_path", "role") == path]
        seen = set(r["kill_moment"] for r in mine)  # in the job's order, whichever cell finished first
        moments = [m for m in KILL_MOMENTS if m in seen] + sorted(seen - set(KILL_MOMENTS))
        lines += ["", "**%s**" % path, "", "| signal | " + " | ".join(moments) + " |", "|---|" + "---|" * len(moments)]
        for sig in OrderedDict.fromkeys(r["kill_signal"] for r in mine):
            row = []
            for moment in moments:
                found = [r for r in mine if r["kill_signal"] == sig and r["kill_moment"] == moment]
                row.append("%s %.1f s (bound %.0f s)" % (mark(found[0]), found[0]["repair_seconds"], found[0]["repair_bound"])
                           if found else "n/a")
            lines.append("| %s | %s |" % (cell(sig), " | ".join(row)))
    return lines


def table(records: list[dict], with_inputs: bool = False) -> list[str]:
    head = "| target | scenario | %sexpected | outcome | result |" % ("inputs | " if with_inputs else "")
    lines = [head, "|---|---|%s---|---|---|" % ("---|" if with_inputs else "")]
    for record in records:
        inputs = ("`%s` | " % cell(", ".join(record.get("inputs") or []))) if with_inputs else ""
        row = (cell(record["target"]), cell(record["scenario"]), inputs, cell(record["expect"]),
               cell(record["outcome"][:200]), mark(record))
        lines.append("| %s | %s | %s%s | %s | %s |" % row)
    return lines


GUARANTEE = [
    "- **With tag permission** (the access key may call the resource-manager service's `ModifyResourceTags`): before "
    "the role stops an instance it records on the instance itself (a tag) the power state to put back, and removes "
    "the record once the power is back. A job that fails puts the power back in its `always` section. The record is "
    "also a lease (300 s), renewed by the job's tasks while they wait: a second job waits for a live holder instead "
    "of stopping or starting the instance under it. A job that is cancelled (SIGINT, SIGTERM) gives its lease up at "
    "once (the module running, or the role's watchdog between two tasks), keeping the power to put back; a killed job "
    "stops renewing, and its watchdog gives the lease up as soon as no module of the job runs any more (else it lapses "
    "within the lease + 60 s). The next run of the role on that instance - whatever it finds, an existing image "
    "included - then takes the record over and puts the power back first.",
    "- **Without tag permission**: the role warns once and keeps the guarantee of its `always` section only: a failure "
    "after the stop puts the power back, but a cancelled or killed job can leave the instance stopped until someone "
    "starts it (`zenlayer.cloud.zenlayer_instance_power`).",
    "- **Writes**: a write is sent again only when its failure proves it was not done (throttled, connection refused, "
    "refused by the API). A CreateImage, stop, start or restart whose outcome is unknown (lost answer, 5xx) is never "
    "sent again in the same run: its effect is looked for until the task's deadline (writes are asynchronous, and "
    "listings may lag by more than any fixed grace), and when it does not show the task fails saying the outcome is "
    "unknown and that a re-run adopts or makes it. Any failure after a write that was (or may have been) done reports "
    "`changed: true`.",
]


def render(records: list[dict], summary: str, command: str) -> str:
    total = counts(records)
    by_category = OrderedDict((name, [r for r in records if r["category"] == name])
                              for name in ("faults", "write faults", "recovery", "bad input", "secrets", "transport",
                                           "concurrency"))
    out = ["# Reliability report",
           "",
           "Generated by `%s` on %s from the scenarios the tests recorded (tests/integration/ansible_run.py, "
           "`Scenario`); do not edit by hand." % (command, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
           "",
           "Every scenario runs `ansible-playbook` (or `ansible` ad-hoc) at `-vvvv` against the emulator "
           "(tests/emulator) seeded with a distinctive access key password and bearer token, asserts on the emulator's "
           "request log and final world, and greps every output, returned value, the emulator log and state for the "
           "secrets and their fragments.",
           "",
           "Regenerate: `make reliability` (the nox session `reliability`: ansible-core 2.19), or "
           "`python scripts/reliability.py [-n WORKERS] [-- PYTEST_ARGS]` from any venv with ansible-core, pytest and "
           "pytest-xdist; `--render-only` rewrites this page from the last results "
           "(tests/output/reliability/results.jsonl). The pytest line below gives the last run's time.",
           "",
           "## Counts from the last run",
           "",
           "| scenarios held / tried | images duplicated | instances left down | secrets leaked |",
           "|---|---|---|---|",
           "| %(held)d / %(tried)d | %(images_duplicated)d | %(instances_left_down)d | %(secrets_leaked)d |" % total,
           "",
           "pytest: `%s`" % summary,
           "",
           "| category | held / tried |", "|---|---|"]
    out += ["| %s | %d / %d |" % (name, counts(rows)["held"], counts(rows)["tried"]) for name, rows in by_category.items()]
    out += ["", "## Fault matrix", "",
            "Each cell: whether the scenario held, and what the user saw (the module's message, or the role's failing "
            "task and message). A scenario holds when the outcome is success with exactly the intended resources, or a "
            "failure whose message says what happened and what to do, with no duplicate image, no instance left "
            "stopped that was running, bounded retries and waits, and no secret anywhere.", ""]
    out += fault_matrix(records)
    out += ["", "## Never left down: the guarantee", ""] + GUARANTEE
    out += ["", "## Kill matrix: time to repair", "",
            "The role (and the fleet) on their defaults - lease 300 s, stop_timeout 600 s, wait_timeout 1800 s - with "
            "the emulator's time and the modules' clock scaled (50 x) and writes applied 2 s late, interrupted at a chosen "
            "moment, then relaunched without take_over. Time to repair: real seconds from the signal until the instance "
            "runs again and the interrupted job holds no live lease on it (a relaunch can then take over without "
            "waiting). Bound: one cloud cycle (+ lease + 60 s margin after a SIGKILL), on the scaled clock, + 30 s of "
            "ansible-playbook's own overhead. Every cell also ends with one image, no record, no process left.", ""]
    out += kill_matrix(records)
    out += ["", "## Recovery across runs", "",
            "The role is interrupted at a chosen moment with the emulator's writes taking effect late, then run again; "
            "or a first run fails on its own; or a second job starts while the first holds the instance.", ""]
    out += table(by_category["recovery"])
    out += ["", "## Every write under every fault", "",
            "Each write the collection sends, with its answer lost after it was done, answered 502 or 408 "
            "`REQUEST_TIMED_OUT` after it was done, answered 503 without being done, or throttled; once with writes "
            "taking effect at once and once asynchronously (the emulator's `--async-lag`). The real module runs "
            "in-process against the emulator.", ""]
    out += table(by_category["write faults"])
    out += ["", "## Bad input", "", "Inputs that need no look-up run in one playbook; the emulator's request log "
            "must be empty afterwards. The others may read, never write.", ""]
    out += table(by_category["bad input"], with_inputs=True)
    for name, title in (("secrets", "Secrets"), ("transport", "Transport (TLS)"), ("concurrency", "Concurrency")):
        out += ["", "## " + title, ""] + table(by_category[name])
    broke = [r for r in records if not r["held"]]
    if broke:
        out += ["", "## What broke", ""]
        out += ["- %s / %s: %s" % (r["target"], r["scenario"], cell(r.get("error") or "")) for r in broke]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--python", default=os.environ.get("ZC_PYTHON", sys.executable),
                        help="Python of the venv with ansible-core, pytest, pytest-xdist (default: this one)")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (default 2; 1 = none)")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "reliability.md"))
    parser.add_argument("--results", default=os.environ.get("ZC_RELIABILITY_RESULTS", DEFAULT_RESULTS))
    parser.add_argument("--render-only", action="store_true", help="rewrite the report from the last results")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    rc, summary = 0, last_summary(args.results)
    if not args.render_only:
        rc, summary = run_tests(args.python, args.workers, args.results, args.pytest_args)
        summary += " (%d workers, %d CPUs)" % (args.workers, os.cpu_count() or 1)
        with open(args.results + ".summary", "w", encoding="utf-8") as handle:
            handle.write(summary)
    records = load(args.results)
    if not records:
        print("no scenario was recorded in %s" % args.results, file=sys.stderr)
        return rc or 1
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(render(records, summary, "make reliability (python scripts/reliability.py)"))
    total = counts(records)
    print("reliability: %(held)d/%(tried)d scenarios held, %(images_duplicated)d images duplicated, "
          "%(instances_left_down)d instances left down, %(secrets_leaked)d secrets leaked" % total)
    print("wrote %s" % os.path.relpath(args.out, REPO))
    return rc


if __name__ == "__main__":
    sys.exit(main())
