# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the progress lines (issue 22): a wait in slices against the same wait in one piece (127.0.0.1 only).

    .venvs/core-2.19/bin/python tests/bench/progress.py                       # prints the figures (Markdown)
    .venvs/core-2.19/bin/python tests/bench/progress.py --update-doc docs/benchmarks.md

One ansible-playbook task, zenlayer.cloud.zenlayer_image making an image of a stopped instance and waiting for it,
on an image of 60 s and one of 29 minutes (the longest the default wait_timeout of 30 minutes takes), each run on a
fresh emulator twice: through this checkout (its action plugin runs the module in slices and prints the progress
lines) and through a copy of this checkout without the action plugins (Ansible then runs the module in one piece, as
before issue 22). Figures: the API calls (from the emulator's log), the slices (the progress lines, plus the last
slice), the wall time and the longest time between two lines. The 29-minute image runs on scaled time (the
emulator's time and the modules' clock with it, ZENLAYERCLOUD_EMULATOR_CLOCK), and every wall time is given in the
modules' seconds (real seconds / time scale). Ansible takes a second or two to start a module again between two
slices, which the next slice takes out of its pause (15 s for an image); a scaled clock magnifies that time by the
scale, so the full run keeps the scale at 0.25, where it still fits in the pause as it does on a real clock (--quick
runs at 0.1, where it may not: a few polls then come late, and a line up to that much later than 60 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import benchlib  # noqa: E402  pylint: disable=wrong-import-position,import-error

MARK_START = "<!-- progress-bench:start (written by tests/bench/progress.py --update-doc; do not edit) -->"
MARK_END = "<!-- progress-bench:end -->"
ACTION_PLUGINS = ("zenlayer_image.py", "zenlayer_image_line.py", "zenlayer_instance_power.py", "zenlayer_image_fleet.py")
LINE = re.compile(r"^zenlayer_image(?:_fleet)?: .* - (?P<waited>(?:\d+[hms] ?)+) of ", re.MULTILINE)
MAX_OVERHEAD = 0.02  # of the wall time
MAX_LINE_GAP = 60.0
# (label, image seconds, time scale, runs per mode); a label starting with "fleet" runs zenlayer_image_fleet over
# FLEET_SIZE running instances (stops and starts of 10 s) instead of zenlayer_image over one stopped instance.
# The long image stays inside the default wait_timeout (1800 s), whose deadline a 30-minute one would race.
FLEET_SIZE = 30
FULL = [("60 s image", 60, 1.0, 3), ("29-minute image", 1740, 0.25, 1), ("fleet of 30, 60 s image", 60, 0.25, 3)]
QUICK = [("60 s image", 60, 0.25, 1), ("29-minute image", 1740, 0.1, 1), ("fleet of 30, 60 s image", 60, 0.25, 1)]
RUN_TIMEOUT = 600


def seconds(text: str) -> int:
    return sum(int(number) * {"h": 3600, "m": 60, "s": 1}[unit] for number, unit in re.findall(r"(\d+)([hms])", text))


def one_piece_copy(workdir: str) -> str:
    """This checkout's galaxy.yml, meta, plugins and roles, less the action plugins of the modules that wait."""
    target = os.path.join(workdir, "one-piece")
    os.makedirs(target)
    for part in ("galaxy.yml", "meta", "plugins", "roles"):
        source = os.path.join(benchlib.REPO, part)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(target, part), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target)
    for name in ACTION_PLUGINS:
        os.remove(os.path.join(target, "plugins", "action", name))
    return target


def world_and_task(label: str, image_seconds: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The emulator's seed and the task of a row: one image of a stopped instance, or a fleet of running ones."""
    if not label.startswith("fleet"):
        return (benchlib.seed([benchlib.instance("bench-stopped", "STOPPED")],
                              timings={"stop_seconds": 2, "start_seconds": 2, "image_seconds": image_seconds}),
                {"zenlayer.cloud.zenlayer_image": {"instance_id": "bench-stopped", "name": "bench-progress"}})
    ids = ["bench-fleet-%02d" % n for n in range(FLEET_SIZE)]
    world = benchlib.seed([benchlib.instance(instance_id, zone_id=("HKG-A", "FRA-A")[n % 2]) for n, instance_id in enumerate(ids)],
                          timings={"stop_seconds": 10, "start_seconds": 10, "image_seconds": image_seconds})
    return world, {"zenlayer.cloud.zenlayer_image_fleet": {"instances": [{"instance_id": instance_id, "name": instance_id}
                                                                         for instance_id in ids]}}


def one_run(collection: Any, workdir: str, key: str, label: str, image_seconds: int, scale: float) -> dict[str, Any]:
    world, task = world_and_task(label, image_seconds)
    play = json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [dict(task, name="image")]}])
    path = benchlib.write(os.path.join(workdir, key + ".yml"), play)
    with benchlib.Emulator(world, time_scale=scale) as emu:
        env = benchlib.ansible_env(emu, collection, workdir)  # the modules' clock: the emulator's (scaled) one
        done = benchlib.run([benchlib.bin_path("ansible-playbook"), "-i", "localhost,", path], env, workdir,
                            timeout=RUN_TIMEOUT)
        counted = benchlib.count_requests(emu.requests())
    waited = [seconds(match.group("waited")) for match in LINE.finditer(done.output)]
    gaps = [later - earlier for earlier, later in zip(waited, waited[1:])]
    return {"ok": done.returncode == 0, "calls": counted["calls"], "by_action": counted["by_action"],
            "wall_seconds": round(done.seconds / scale, 1), "lines": len(waited), "slices": len(waited) + 1 if waited else 1,
            "longest_gap": max(gaps) if gaps else None, "last_line_at": waited[-1] if waited else None,
            "output_tail": None if done.returncode == 0 else done.output[-1500:]}


def measure(plan: list, workdir: str) -> list[dict[str, Any]]:
    sliced = benchlib.Collection(benchlib.REPO, "slices", workdir)
    whole = benchlib.Collection(one_piece_copy(workdir), "one-piece", workdir)
    rows = []
    for label, image_seconds, scale, runs in plan:
        row: dict[str, Any] = {"label": label, "image_seconds": image_seconds, "time_scale": scale}
        for mode, collection in (("one_piece", whole), ("slices", sliced)):
            samples = [one_run(collection, workdir, "%s-%s-%d" % (mode, re.sub(r"\W+", "-", label), attempt), label, image_seconds, scale)
                       for attempt in range(runs)]
            row[mode + "_runs"] = samples
            print("bench: %s, %s: %s" % (label, mode.replace("_", " "), ", ".join(
                "%.1f s, %d calls, %d slice(s)" % (s["wall_seconds"], s["calls"], s["slices"]) for s in samples)), flush=True)
        rows.append(summarize(row))
    return rows


def summarize(row: dict[str, Any]) -> dict[str, Any]:
    whole, sliced = row["one_piece_runs"], row["slices_runs"]
    wall_whole = benchlib.median([s["wall_seconds"] for s in whole])
    wall_sliced = benchlib.median([s["wall_seconds"] for s in sliced])
    calls_whole = benchlib.median([s["calls"] for s in whole])
    calls_sliced = benchlib.median([s["calls"] for s in sliced])
    slices = benchlib.median([s["slices"] for s in sliced])
    gaps = [s["longest_gap"] for s in sliced if s["longest_gap"] is not None]
    row.update(wall_one_piece=round(wall_whole, 1), wall_slices=round(wall_sliced, 1),
               overhead=round((wall_sliced - wall_whole) / wall_whole, 4), calls_one_piece=calls_whole,
               calls_slices=calls_sliced, slices=slices, extra_calls_per_slice=round((calls_sliced - calls_whole) / slices, 3),
               longest_gap=max(gaps) if gaps else None, lines=benchlib.median([s["lines"] for s in sliced]),
               ok=all(s["ok"] for s in whole + sliced))
    row["met"] = bool(row["ok"] and row["overhead"] <= MAX_OVERHEAD and row["extra_calls_per_slice"] <= 1
                      and row["longest_gap"] is not None and row["longest_gap"] <= MAX_LINE_GAP
                      and row["lines"] >= math.floor(row["image_seconds"] / MAX_LINE_GAP))
    return row


def render(rows: list[dict[str, Any]], quick: bool, took: float) -> str:
    lines = ["## 9. Progress while it waits (measured, issue 22)", "",
             "Generated by `tests/bench/progress.py%s` on %s (%.0f s; Python %s, ansible-core %s, %d CPUs). One "
             "`zenlayer.cloud.zenlayer_image` task makes an image of a stopped instance and waits for it (the fleet row: "
             "one `zenlayer.cloud.zenlayer_image_fleet` task images %d running instances, stops and starts of 10 s), in "
             "slices through its action plugin (a progress line between two), and in one piece (the same checkout "
             "without the action plugins: Ansible runs the module directly). The rows at a time scale below 1 run on "
             "scaled time (the emulator and the modules' clock); wall times are in the modules' seconds. Each figure is "
             "the median of "
             "the runs (%s). The restart of the module between two slices (a second or two of real time) fits in the "
             "pause it ends before at these scales, as it does on a real clock."
             % (" --quick" if quick else "", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), took,
                platform.python_version(), benchlib.ansible_version(), os.cpu_count() or 1, FLEET_SIZE,
                ", ".join("%d of the %s" % (len(row["slices_runs"]), row["label"]) for row in rows)), "",
             "| image | time scale | calls, one piece | calls, slices | slices | extra calls per slice | wall, one piece "
             "| wall, slices | overhead | lines | longest time between two lines | targets met |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append("| %s | %s | %g | %g | %g | %g | %.1f s | %.1f s | %+.2f %% | %g | %s | %s |" % (
            row["label"], row["time_scale"], row["calls_one_piece"], row["calls_slices"], row["slices"],
            row["extra_calls_per_slice"], row["wall_one_piece"], row["wall_slices"], 100 * row["overhead"], row["lines"],
            "-" if row["longest_gap"] is None else "%d s" % row["longest_gap"], "yes" if row["met"] else "**NO**"))
    lines += ["", "Targets: overhead at most %d %% of the wall time, at most one call more per slice, a line at least "
              "every %d s of waiting. A resumed slice makes no look the slice before it made, and the time between "
              "two slices is taken out of the pause it interrupted, so the polls come when they would in one piece."
              % (100 * MAX_OVERHEAD, MAX_LINE_GAP), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="faster time scales, one run each (smoke runs)")
    parser.add_argument("--update-doc", metavar="MARKDOWN", help="also write the section into this page (docs/benchmarks.md)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    workdir = benchlib.tempdir("zenlayer-bench-progress-")
    started = time.monotonic()
    try:
        rows = measure(QUICK if args.quick else FULL, workdir)
    finally:
        benchlib.cleanup(workdir)
    section = render(rows, args.quick, time.monotonic() - started)
    print(section)
    if args.json:
        benchlib.write(args.json, json.dumps(rows, indent=1, sort_keys=True) + "\n")
    if args.update_doc:
        benchlib.update_section(args.update_doc, MARK_START, MARK_END, section)
        print("bench: wrote the progress section of %s" % args.update_doc)
    return 0 if all(row["met"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
