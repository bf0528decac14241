# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark, one command:  python tests/bench/run_bench.py [--quick] [--out docs/benchmarks.md] [--baseline REV]

Runs every section against local emulators (127.0.0.1 only, each bounded in time), prints the figures, writes them
to a JSON file (default: --out with .json) and renders the Markdown page from that JSON (report.py).
Run it with ansible-core next to the interpreter: `make bench` (the nox session `bench`) does.
--baseline REV also measures the collection as of git revision REV (its plugins and roles), for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

CYCLE = {"stop_seconds": 10, "image_seconds": 60, "start_seconds": 10}
# The fleet path (issue 12): 100 instances on the settings of section 4's per-host run, then 1,000 on scaled time.
FLEET_PATH = [{"label": "fleet path, 100 instances", "instances": 100, "forks": 25, "rate_limit": 20.0, "time_scale": 1.0,
               "timings": CYCLE},
              {"label": "fleet path, 1,000 instances (time scale 0.25)", "instances": 1000, "forks": 25, "rate_limit": 50.0,
               "time_scale": 0.25, "timings": CYCLE}]
# --quick: the quick per-host run's settings, then 100 instances on scaled time.
QUICK_FLEET_PATH = [{"label": "fleet path, 16 instances", "instances": 16, "forks": 8, "rate_limit": 20.0, "time_scale": 1.0,
                     "timings": {"stop_seconds": 2, "image_seconds": 10, "start_seconds": 2}},
                    dict(FLEET_PATH[1], instances=100, label="fleet path, 100 instances (time scale 0.25)")]

# Timings run at time scale 1: the modules sleep real seconds, so scaling the cloud's times down (and not the
# pollers') would make every poll gap look larger than it is next to a real image time.
QUICK = {"sim": {"range": [10, 600, 150], "window": 0.15, "buckets": [10, 30, 60, 120, 300, 600], "bucket_points": 15,
                 "exact": [3, 6]},
         "real_image_times": [3, 6], "role_timings": {"stop_seconds": 2, "image_seconds": 6, "start_seconds": 2},
         "role_repeats": 1, "fleet": {"instances": 16, "forks": 8, "rate_limit": 20.0, "time_scale": 1.0,
                                      "timings": {"stop_seconds": 2, "image_seconds": 10, "start_seconds": 2}},
         "fleet_path": QUICK_FLEET_PATH, "startup_repeats": 2}
FULL = {"sim": {"range": [10, 600, 400], "window": 0.15, "buckets": [10, 30, 60, 120, 300, 600], "bucket_points": 41,
                "exact": [4, 8, 16]},
        "real_image_times": [4, 8, 16], "role_timings": {"stop_seconds": 10, "image_seconds": 60, "start_seconds": 10},
        "role_repeats": 1, "fleet": {"instances": 100, "forks": 25, "rate_limit": 20.0, "time_scale": 1.0,
                                     "timings": CYCLE},
        "fleet_path": FLEET_PATH, "startup_repeats": 7}


def _ensure_ansible() -> None:
    """Stop with a hint unless ansible-core, requests and the ansible CLI sit next to this interpreter."""
    here_ok = os.path.exists(os.path.join(os.path.dirname(sys.executable), "ansible-playbook"))
    try:
        import ansible  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        import requests  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        here_ok = False
    if not here_ok:
        sys.exit("run_bench: no ansible-core next to %s; run `make bench` (nox -e bench)" % sys.executable)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", REPO] + list(args), check=False, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout.decode().strip()


def _timed(label: str, action: Callable[[], Any], timings: dict) -> Any:
    started = time.monotonic()
    print("bench: %s ..." % label, flush=True)
    value = action()
    timings[label] = round(time.monotonic() - started, 1)
    print("bench: %s done in %.1f s" % (label, timings[label]), flush=True)
    return value


def measure(collection: Any, workdir: str, plan: dict, timings: dict, sections: set[str]) -> dict[str, Any]:
    import calls  # pylint: disable=import-outside-toplevel
    import fleet  # pylint: disable=import-outside-toplevel
    import latency  # pylint: disable=import-outside-toplevel
    tag = collection.label
    out: dict[str, Any] = {}
    if "calls" in sections:
        out["calls"] = _timed(tag + " calls per task", lambda: calls.calls_per_task(collection, workdir), timings)
    if "latency" in sections:
        out["latency_sim"] = _timed(tag + " latency (simulated)", lambda: latency.simulated(collection, plan["sim"]), timings)
        out["latency_real"] = _timed(tag + " latency (measured)",
                                     lambda: latency.measured(collection, workdir, plan["real_image_times"]), timings)
    if "role" in sections:
        out["role"] = _timed(tag + " role overhead", lambda: calls.role_overhead(
            collection, workdir, plan["role_timings"], plan["role_repeats"]), timings)
    if "fleet" in sections:
        out["fleet"] = _timed(tag + " fleet", lambda: fleet.fleet(collection, workdir, **plan["fleet"]), timings)
    if "fleet_path" in sections and os.path.exists(os.path.join(collection.source, "roles", "image_from_instance", "tasks", "fleet.yml")):
        out["fleet_path"] = _timed(tag + " fleet path", lambda: _fleet_path(collection, workdir, plan["fleet_path"]), timings)
    if "startup" in sections:
        out["startup"] = _timed(tag + " start-up", lambda: fleet.startup(collection, workdir, plan["startup_repeats"]), timings)
    return out


def _fleet_path(collection: Any, workdir: str, runs: list[dict]) -> list[dict[str, Any]]:
    """The role's fleet path (tasks_from: fleet) on each run's settings."""
    import fleet  # pylint: disable=import-outside-toplevel
    results = []
    for spec in runs:
        options = {key: value for key, value in spec.items() if key != "label"}
        result = dict(fleet.fleet(collection, workdir, path="fleet", **options), label=spec["label"])
        result["throttled_per_100"] = round(100.0 * result["throttled_429"] / result["instances"], 1)
        print("bench: %s: %.0f s, wall/ideal %s, %.2f calls/instance, %d 429s, %d failed" % (
            spec["label"], result["wall_seconds"], result["ratio_to_ideal"], result["calls_per_instance"],
            result["throttled_429"], result["failed_hosts"]), flush=True)
        results.append(result)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures (about 2 minutes), for smoke runs")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"), help="the Markdown page to write")
    parser.add_argument("--json", help="the JSON file to write (default: --out with .json)")
    parser.add_argument("--baseline", help="also measure this git revision's plugins and roles (before/after)")
    parser.add_argument("--from-json", help="measure nothing: render --out (and the plot) from this JSON file")
    parser.add_argument("--sections", default="calls,latency,role,fleet,fleet_path,startup",
                        help="comma-separated subset of calls,latency,role,fleet,fleet_path,startup")
    args = parser.parse_args()
    _ensure_ansible()
    sys.path.insert(0, HERE)
    import benchlib  # pylint: disable=import-outside-toplevel

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as handle:
            return _render(json.load(handle), args.out, None)
    plan = QUICK if args.quick else FULL
    sections = set(args.sections.split(","))
    workdir = benchlib.tempdir("zenlayer-bench-")
    timings: dict[str, float] = {}
    started = time.monotonic()
    import ansible  # pylint: disable=import-outside-toplevel
    doc: dict[str, Any] = {
        "generated_by": "tests/bench/run_bench.py" + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "mode": "quick" if args.quick else "full",
        "environment": {"python": platform.python_version(), "ansible_core": ansible.__version__,
                        "cpus": os.cpu_count(), "platform": platform.platform()},
        "plan": plan, "runs": {}}
    try:
        current = benchlib.Collection(REPO, "current", workdir)
        dirty = bool(_git("status", "--porcelain", "--", "plugins", "roles"))
        doc["runs"]["current"] = {"revision": _git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else ""),
                                  **measure(current, workdir, plan, timings, sections)}
        if args.baseline:
            before = benchlib.Collection.from_git(args.baseline, "baseline", workdir)
            doc["runs"]["baseline"] = {"revision": _git("rev-parse", "--short", args.baseline),
                                       **measure(before, workdir, plan, timings, sections)}
    finally:
        benchlib.cleanup(workdir)
    doc["section_seconds"] = timings
    doc["total_seconds"] = round(time.monotonic() - started, 1)
    json_path = args.json or os.path.splitext(args.out)[0] + ".json"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1, sort_keys=True)
        handle.write("\n")
    return _render(doc, args.out, json_path)


def _kept_sections(out: str, script: Any = None) -> str:
    """Sections other scripts write into the page between their markers (tests/bench/inventory.py, leases.py,
    progress.py): kept as they are."""
    if script is None:
        import inventory as script  # pylint: disable=import-outside-toplevel
    try:
        with open(out, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return ""
    if script.MARK_START not in text or script.MARK_END not in text:
        return ""
    kept = text[text.index(script.MARK_START):text.index(script.MARK_END) + len(script.MARK_END)]
    return "\n" + kept + "\n"


def _render(doc: dict, out: str, json_path: str | None) -> int:
    import leases  # pylint: disable=import-outside-toplevel
    import progress  # pylint: disable=import-outside-toplevel
    import report  # pylint: disable=import-outside-toplevel
    kept, kept_last = _kept_sections(out), _kept_sections(out, leases) + _kept_sections(out, progress)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(report.render(doc, kept) + kept_last)
    report.write_plot(doc, os.path.join(os.path.dirname(os.path.abspath(out)), "benchmarks-fleet.svg"))
    report.write_plot(doc, os.path.join(os.path.dirname(os.path.abspath(out)), "benchmarks-fleet-path.svg"), fleet_path=True)
    print(report.summary(doc))
    print("bench: wrote %s%s (measured in %.0f s)" % (out, " and " + json_path if json_path else "", doc["total_seconds"]))
    return 0 if report.all_ok(doc) else 1


if __name__ == "__main__":
    sys.exit(main())
