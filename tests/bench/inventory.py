# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the zenlayer.cloud.zenlayer_vm inventory plugin against the emulator (127.0.0.1 only).

    .venvs/core-2.19/bin/python tests/bench/inventory.py                       # prints the figures (Markdown)
    .venvs/core-2.19/bin/python tests/bench/inventory.py --update-doc docs/benchmarks.md

Measures, on an account of --instances generated instances (tests/emulator/seedgen.py) and on an empty account:
the DescribeInstances calls of several filter sets against ceil(matching / 1000) per set, the wall time of
`ansible-inventory --list` (median of --repeat runs) and its ratio to the empty account, and the API calls of a
second run with the cache on. Every run is bounded (timeout) and the emulator stops with the script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import sys
import time
from typing import Any, Callable, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import benchlib  # noqa: E402  pylint: disable=wrong-import-position,import-error
from seedgen import generate  # noqa: E402  pylint: disable=wrong-import-position,import-error

PAGE_SIZE = 1000
MAX_RATIO = 3.0
RUN_TIMEOUT = 300
MARK_START = "<!-- inventory-bench:start (written by tests/bench/inventory.py --update-doc; do not edit) -->"
MARK_END = "<!-- inventory-bench:end -->"
CONSTRUCTED = """\
keyed_groups:
  - key: zenlayer_zone_id
    prefix: zone
  - key: zenlayer_instance_status | lower
    prefix: status
  - key: zenlayer_tags
    prefix: tag
"""
FILTER_SETS: list[tuple[str, str, Callable[[dict], bool], bool]] = [
    # (label, source options, which generated instances match, whether the source makes one query per zone)
    ("every instance", "", lambda i: True, False),
    ("zones HKG-A, FRA-A x status RUNNING", "zones: [HKG-A, FRA-A]\nstatuses: [RUNNING]\n",
     lambda i: i["zoneId"] in ("HKG-A", "FRA-A") and i["instanceStatus"] == "RUNNING", True),
    ("tag role=web", "tags: {role: web}\n", lambda i: {"key": "role", "value": "web"} in i["tags"], False),
    ("name web-0*", "name: web-0*\n", lambda i: i["instanceName"].startswith("web-0"), False),
]


STATIC_SCRIPT = """#!%s
# The --list output of the plugin, printed as it is: what ansible-inventory costs for these hosts by itself.
import sys
with open(%r, encoding="utf-8") as handle:
    sys.stdout.write(handle.read() if "--list" in sys.argv else "{}")
"""


def plain(value: Any) -> Any:
    """--list output without ansible-core 2.19's {"__ansible_unsafe": ...} markers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def expected_calls(instances: list[dict], wanted: Callable[[dict], bool], by_zone: bool) -> int:
    """ceil(matching / 1000) per filter set (at least one call per set, even when it matches nothing)."""
    if not by_zone:
        return max(1, math.ceil(sum(1 for i in instances if wanted(i)) / PAGE_SIZE))
    zones = ("HKG-A", "FRA-A")
    return sum(max(1, math.ceil(sum(1 for i in instances if wanted(i) and i["zoneId"] == z) / PAGE_SIZE)) for z in zones)


class Timing(NamedTuple):
    """Wall seconds, and the CPU seconds (user + system) of the ansible-inventory process."""

    wall: float
    cpu: float


def median_timing(timings: list[Timing]) -> Timing:
    return Timing(benchlib.median([t.wall for t in timings]), benchlib.median([t.cpu for t in timings]))


def timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[Timing, Any]:
    """Run one command; its wall time and, from the children's resource usage, its CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = benchlib.run(command, env, cwd, timeout=RUN_TIMEOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(result.seconds, cpu), result


class Bench:
    """ansible-inventory runs against one emulator."""

    def __init__(self, emu: Any, collection: Any, workdir: str) -> None:
        self.emu, self.collection, self.workdir = emu, collection, workdir

    def inventory(self, options: str, *args: str, name: str = "bench") -> tuple[Timing, dict, int]:
        """(timing, --list output, DescribeInstances calls) of one ansible-inventory --list."""
        path = benchlib.write(os.path.join(self.workdir, "%s.zenlayer_vm.yml" % name),
                              "plugin: zenlayer.cloud.zenlayer_vm\n" + options)
        self.emu.clear_requests()
        env = benchlib.ansible_env(self.emu, self.collection, self.workdir)
        timing, result = timed([benchlib.bin_path("ansible-inventory"), "-i", path, "--list", *args], env, self.workdir)
        if result.returncode != 0:
            raise RuntimeError("ansible-inventory failed (%s):\n%s" % (result.returncode, result.output[-3000:]))
        listing = json.loads(result.output[result.output.index("{"):])
        return timing, listing, len(self.emu.requests("DescribeInstances"))

    def static_floor(self, listing: dict, repeat: int) -> Timing:
        """ansible-inventory --list over a script inventory that prints `listing` (the same hosts and variables)."""
        data = benchlib.write(os.path.join(self.workdir, "listing.json"), json.dumps(plain(listing)))
        script = benchlib.write(os.path.join(self.workdir, "static_inventory.py"), STATIC_SCRIPT % (sys.executable, data))
        os.chmod(script, 0o755)
        env = benchlib.ansible_env(self.emu, self.collection, self.workdir)
        timings = []
        for _run in range(repeat):
            timing, result = timed([benchlib.bin_path("ansible-inventory"), "-i", script, "--list"], env, self.workdir)
            if result.returncode != 0 or len(json.loads(result.output)["_meta"]["hostvars"]) != len(listing["_meta"]["hostvars"]):
                raise RuntimeError("the static script inventory failed:\n%s" % result.output[-3000:])
            timings.append(timing)
        return median_timing(timings)

    def median(self, options: str, repeat: int) -> Timing:
        """Median wall and CPU seconds of `repeat` runs."""
        return median_timing([self.inventory(options)[0] for _run in range(repeat)])


def _filter_set_figures(bench: Bench, instances: list[dict]) -> list[dict[str, Any]]:
    figures = []
    for label, options, wanted, by_zone in FILTER_SETS:
        _timing, listing, calls = bench.inventory(options)
        figures.append({"label": label, "hosts": len(listing["_meta"]["hostvars"]), "calls": calls,
                        "expected_calls": expected_calls(instances, wanted, by_zone)})
    return figures


def measure(count: int, repeat: int, workdir: str) -> dict[str, Any]:
    collection = benchlib.Collection(benchlib.REPO, "this", workdir)
    big = generate(count)
    figures: dict[str, Any] = {"instances": count, "repeat": repeat, "load_before": os.getloadavg()[0]}
    with benchlib.Emulator(big) as emu:
        bench = Bench(emu, collection, workdir)
        figures["filter_sets"] = _filter_set_figures(bench, big["instances"])
        figures["plain"] = bench.median("", repeat)._asdict()
        _timing, listing, _calls = bench.inventory("")
        figures["hosts"] = len(listing["_meta"]["hostvars"])
        figures["hostvars_per_host"] = len(next(iter(listing["_meta"]["hostvars"].values()), {}))
        figures["static_floor"] = bench.static_floor(listing, repeat)._asdict()
        figures["constructed"] = bench.median(CONSTRUCTED, repeat)._asdict()
        cache = "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % os.path.join(workdir, "cache")
        for run in ("cache_first", "cache_second"):
            timing, _listing, calls = bench.inventory(CONSTRUCTED + cache)
            figures[run] = dict(timing._asdict(), calls=calls)
    with benchlib.Emulator(generate(0)) as emu:
        bench = Bench(emu, collection, workdir)
        figures["empty_plain"] = bench.median("", repeat)._asdict()
        figures["empty_constructed"] = bench.median(CONSTRUCTED, repeat)._asdict()
    figures["load_after"] = os.getloadavg()[0]
    return figures


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _calls_table(figures: dict[str, Any]) -> list[str]:
    lines = ["| filter set | hosts | DescribeInstances calls | goal: ceil(matching / 1000) per set | |",
             "|---|---|---|---|---|"]
    for entry in figures["filter_sets"]:
        met = entry["calls"] == entry["expected_calls"]
        row = (entry["label"], entry["hosts"], entry["calls"], entry["expected_calls"], _verdict(met))
        lines.append("| %s | %d | %d | %d | %s |" % row)
    return lines


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("inf")


def _wall_table(figures: dict[str, Any]) -> list[str]:
    lines = ["| `ansible-inventory --list` (median of %d) | %d instances: wall (CPU) | empty account: wall (CPU) "
             "| ratio of walls (of CPU) | goal: ratio of walls | |" % (figures["repeat"], figures["instances"]),
             "|---|---|---|---|---|---|"]
    for label, key in (("default options", "plain"), ("keyed_groups by zone, status and tag", "constructed")):
        big, empty = figures[key], figures["empty_" + key]
        ratio = _ratio(big["wall"], empty["wall"])
        row = (label, big["wall"], big["cpu"], empty["wall"], empty["cpu"], ratio, _ratio(big["cpu"], empty["cpu"]),
               MAX_RATIO, _verdict(ratio <= MAX_RATIO))
        lines.append("| %s | %.2f s (%.2f s) | %.2f s (%.2f s) | %.2f (%.2f) | <= %.0f | %s |" % row)
    return lines


def _floor_text(figures: dict[str, Any]) -> list[str]:
    floor, plain_run, empty = figures["static_floor"], figures["plain"], figures["empty_plain"]
    values = (figures["hosts"], figures["hostvars_per_host"], floor["wall"], floor["cpu"],
              _ratio(floor["wall"], empty["wall"]), _ratio(floor["cpu"], empty["cpu"]),
              plain_run["cpu"] - floor["cpu"])
    verdict = ("so no plugin can reach the ratio of %.0f with these host variables" % MAX_RATIO
               if values[4] > MAX_RATIO else "within the ratio of %.0f" % MAX_RATIO)
    return ["The same %d hosts with their %d variables each, printed by a script inventory (no API, no plugin): "
            "%.2f s wall (%.2f s CPU), %.2f times the empty account's wall (%.2f times its CPU). That is what "
            "ansible-inventory itself spends on them (the variables of every host, the JSON output), %s; the "
            "plugin's own share of the default run is the difference in CPU time, %.2f s."
            % (values[:6] + (verdict,) + values[6:]),
            "",
            "Load average (1 min) before and after: %.1f and %.1f on %d CPUs shared with other work: wall times "
            "vary with it, CPU times much less." % (figures["load_before"], figures["load_after"], os.cpu_count() or 1)]


def _cache_table(figures: dict[str, Any]) -> list[str]:
    first, second = figures["cache_first"], figures["cache_second"]
    return ["| cache on (jsonfile), keyed_groups | API calls | wall (CPU) | goal | |", "|---|---|---|---|---|",
            "| first run | %d | %.2f s (%.2f s) | | |" % (first["calls"], first["wall"], first["cpu"]),
            "| second run | %d | %.2f s (%.2f s) | 0 calls | %s |" % (
                second["calls"], second["wall"], second["cpu"], _verdict(second["calls"] == 0))]


def render(figures: dict[str, Any], took: float) -> str:
    count = figures["instances"]
    header = (count, figures["repeat"], time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), took,
              platform.python_version(), _ansible_version(), os.cpu_count() or 1, count)
    lines = ["## 6. Inventory plugin `zenlayer.cloud.zenlayer_vm` (measured)", "",
             "Generated by `tests/bench/inventory.py --instances %d --repeat %d` on %s (%.0f s; Python %s, "
             "ansible-core %s, %d CPUs). An account of %d generated instances (`tests/emulator/seedgen.py`) and an "
             "empty one, on the emulator." % header, ""]
    for part in (_calls_table, _wall_table, _floor_text, _cache_table):
        lines += part(figures) + [""]
    return "\n".join(lines)


def _ansible_version() -> str:
    try:
        from ansible.release import __version__  # pylint: disable=import-outside-toplevel
    except ImportError:
        return "unknown"
    return __version__


def all_met(figures: dict[str, Any]) -> bool:
    calls_ok = all(entry["calls"] == entry["expected_calls"] for entry in figures["filter_sets"])
    ratios_ok = all(figures[key]["wall"] <= MAX_RATIO * figures["empty_" + key]["wall"] for key in ("plain", "constructed"))
    return calls_ok and ratios_ok and figures["cache_second"]["calls"] == 0


def update_doc(path: str, section: str) -> None:
    """Replace the section between the markers in `path` (append it with the markers when absent)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    block = "%s\n%s%s\n" % (MARK_START, section, MARK_END)
    if MARK_START in text and MARK_END in text:
        before, rest = text.split(MARK_START, 1)
        text = before + block + rest.split(MARK_END, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    benchlib.write(path, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000, help="instances of the large account (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per wall-time figure (median; default 3)")
    parser.add_argument("--update-doc", metavar="MARKDOWN", help="also write the section into this page (docs/benchmarks.md)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    if not 1 <= args.instances <= 20000 or not 1 <= args.repeat <= 10:
        parser.error("--instances must be 1 to 20000 and --repeat 1 to 10 (bounded load)")
    workdir = benchlib.tempdir("zenlayer-bench-inventory-")
    started = time.monotonic()
    try:
        figures = measure(args.instances, args.repeat, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(figures, time.monotonic() - started)
    print(section)
    if args.json:
        benchlib.write(args.json, json.dumps(figures, indent=1, sort_keys=True) + "\n")
    if args.update_doc:
        update_doc(args.update_doc, section)
        print("bench: wrote the inventory section of %s" % args.update_doc)
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
