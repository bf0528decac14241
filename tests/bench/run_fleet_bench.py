# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet benchmark of issue 12:  python tests/bench/run_fleet_bench.py [--quick] [--out docs/benchmarks-fleet-path.md]

The per-host role and the fleet path (`tasks_from: fleet`) on the same emulator settings (RUNNING instances, API
limited to RATE requests/s, stop 10 s + image 60 s + start 10 s at time scale 1), then a 1,000-instance fleet on
scaled emulator time. Writes the figures as JSON (--out with .json) and renders the Markdown page from that JSON
only: nothing on the page is typed by hand. 127.0.0.1 only, every run bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CYCLE = {"stop_seconds": 10, "image_seconds": 60, "start_seconds": 10}
FULL = [{"label": "fleet path, 100 instances", "path": "fleet", "instances": 100, "forks": 25, "rate_limit": 20.0,
         "time_scale": 1.0, "timings": CYCLE},
        {"label": "fleet path, 1,000 instances (time scale 0.25)", "path": "fleet", "instances": 1000, "forks": 25,
         "rate_limit": 50.0, "time_scale": 0.25, "timings": CYCLE},
        {"label": "per-host role, 100 instances", "path": "per_host", "instances": 100, "forks": 25, "rate_limit": 20.0,
         "time_scale": 1.0, "timings": CYCLE}]
QUICK = [dict(run, instances=run["instances"] // 10, label=run["label"].replace("100", "10").replace("1,000", "100"))
         for run in FULL]
TARGETS = {"ratio_to_ideal": 1.2, "calls_per_instance": 6.0, "throttled_per_100": 10.0}


def _write(doc: dict, out: str) -> None:
    with open(os.path.splitext(out)[0] + ".json", "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=1, sort_keys=True)
        handle.write("\n")
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(render(doc))


def measure(plan: list[dict], out: str) -> dict[str, Any]:
    """Every run of the plan; the JSON and the page are rewritten after each run (a long run leaves what it had)."""
    sys.path.insert(0, HERE)
    import benchlib  # pylint: disable=import-outside-toplevel
    import fleet  # pylint: disable=import-outside-toplevel
    import ansible  # pylint: disable=import-outside-toplevel
    workdir = benchlib.tempdir("zenlayer-fleet-bench-")
    runs: list[dict] = []
    doc = {"generated_by": "tests/bench/run_fleet_bench.py", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
           "environment": {"python": platform.python_version(), "ansible_core": ansible.__version__,
                           "cpus": os.cpu_count()}, "runs": runs}
    try:
        collection = benchlib.Collection(REPO, "current", workdir)
        for spec in plan:
            print("fleet bench: %s ..." % spec["label"], flush=True)
            options = {key: value for key, value in spec.items() if key != "label"}
            result = fleet.fleet(collection, workdir, **options)
            result.pop("timeline", None)
            result["label"] = spec["label"]
            result["throttled_per_100"] = round(100.0 * result["throttled_429"] / result["instances"], 1)
            runs.append(result)
            print("fleet bench: %s: %.0f s, x%s, %.2f calls/instance, %d 429s, %d failed" % (
                spec["label"], result["wall_seconds"], result["ratio_to_ideal"], result["calls_per_instance"],
                result["throttled_429"], result["failed_hosts"]), flush=True)
            _write(doc, out)
    finally:
        benchlib.cleanup(workdir)
    return doc


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _guarantees(run: dict) -> bool:
    return (run["ok"] and run["failed_hosts"] == 0 and run["instances_running_after"] == run["instances"]
            and run["duplicate_images"] == 0 and run["images_available"] == run["instances"] and run["records_left"] == 0)


def _target_rows(runs: list[dict]) -> list[str]:
    rows = []
    for run in runs:
        if run["path"] != "fleet":
            continue
        name = run["label"]
        if run["time_scale"] == 1.0:
            rows.append("| %s: wall / max(one cloud cycle, answered calls / rate) | <= %s | %s | %s |" % (
                name, TARGETS["ratio_to_ideal"], run["ratio_to_ideal"], _verdict(run["ratio_to_ideal"] <= TARGETS["ratio_to_ideal"])))
        rows.append("| %s: calls per instance | <= %s | %s | %s |" % (
            name, TARGETS["calls_per_instance"], run["calls_per_instance"], _verdict(run["calls_per_instance"] <= TARGETS["calls_per_instance"])))
        rows.append("| %s: 429 answers per 100 instances | <= %s | %s | %s |" % (
            name, TARGETS["throttled_per_100"], run["throttled_per_100"], _verdict(run["throttled_per_100"] <= TARGETS["throttled_per_100"])))
        rows.append("| %s: failed hosts; not in original power state; duplicate images; records left | 0; 0; 0; 0 | %d; %d; %d; %d | %s |" % (
            name, run["failed_hosts"], run["instances"] - run["instances_running_after"], run["duplicate_images"],
            run["records_left"], _verdict(_guarantees(run))))
    return rows


FIGURES = (("wall time (s)", "wall_seconds"), ("one cloud cycle (s, scaled)", "cloud_seconds_per_instance"),
           ("ideal: max(cycle, answered calls / rate) (s)", "ideal_seconds"), ("wall / ideal", "ratio_to_ideal"),
           ("API calls", "calls"), ("calls per instance", "calls_per_instance"), ("429 answers", "throttled_429"),
           ("writes", "writes"), ("failed hosts", "failed_hosts"), ("images AVAILABLE", "images_available"),
           ("instances RUNNING after (all were RUNNING)", "instances_running_after"),
           ("duplicate images", "duplicate_images"), ("power records left", "records_left"))


def render(doc: dict) -> str:
    runs = doc["runs"]
    env = doc["environment"]
    out = ["# Fleet benchmark: the per-host role and the fleet path\n\n",
           "Generated by `%s` on %s (Python %s, ansible-core %s, %s CPUs); every figure comes from its JSON "
           "(`docs/benchmarks-fleet-path.json`). All instances RUNNING, split over two zones; API rate limit and "
           "emulator time scale per column; stop %s s + image %s s + start %s s of cloud time per instance.\n\n"
           % (doc["generated_by"], doc["date"], env["python"], env["ansible_core"], env["cpus"],
              CYCLE["stop_seconds"], CYCLE["image_seconds"], CYCLE["start_seconds"]),
           "## Targets (issue 12)\n\n| figure | goal | measured | verdict |\n|---|---|---|---|\n"]
    out.append("\n".join(_target_rows(runs)) + "\n\n## Figures\n\n")
    out.append("| figure | " + " | ".join(run["label"] for run in runs) + " |\n")
    out.append("|---|" + "---|" * len(runs) + "\n")
    settings = [("instances", "instances"), ("forks", "forks"), ("API rate limit (req/s)", "rate_limit"),
                ("emulator time scale", "time_scale")]
    for name, key in settings + list(FIGURES):
        out.append("| %s | %s |\n" % (name, " | ".join(str(run[key]) for run in runs)))
    out.append("\n## Calls by action\n\n")
    for run in runs:
        out.append("- %s: %s\n" % (run["label"], ", ".join("%s %d" % item for item in sorted(run["by_action"].items()))))
    return "".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the instances, for a smoke run")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks-fleet-path.md"))
    parser.add_argument("--from-json", help="measure nothing: render --out from this JSON file")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as handle:
            doc = json.load(handle)
    else:
        doc = measure(QUICK if args.quick else FULL, args.out)
    _write(doc, args.out)
    print("fleet bench: wrote %s" % args.out)
    return 0 if all(_guarantees(run) for run in doc["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
