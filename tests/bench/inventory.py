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
import shutil
import sys
import time
from typing import Any, Callable

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


class Bench:
    """ansible-inventory runs against one emulator."""

    def __init__(self, emu: Any, collection: Any, workdir: str) -> None:
        self.emu, self.collection, self.workdir = emu, collection, workdir

    def inventory(self, options: str, *args: str, name: str = "bench") -> tuple[float, dict, int]:
        """(wall seconds, --list output, DescribeInstances calls) of one ansible-inventory --list."""
        path = benchlib.write(os.path.join(self.workdir, "%s.zenlayer_vm.yml" % name),
                              "plugin: zenlayer.cloud.zenlayer_vm\n" + options)
        self.emu.clear_requests()
        env = benchlib.ansible_env(self.emu, self.collection, self.workdir)
        result = benchlib.run([benchlib.bin_path("ansible-inventory"), "-i", path, "--list", *args], env, self.workdir,
                              timeout=RUN_TIMEOUT)
        if result.returncode != 0:
            raise RuntimeError("ansible-inventory failed (%s):\n%s" % (result.returncode, result.output[-3000:]))
        listing = json.loads(result.output[result.output.index("{"):])
        return result.seconds, listing, len(self.emu.requests("DescribeInstances"))

    def static_floor(self, listing: dict, repeat: int) -> float:
        """Median wall of ansible-inventory --list over a script inventory that prints `listing` (same hosts/vars)."""
        data = benchlib.write(os.path.join(self.workdir, "listing.json"), json.dumps(plain(listing)))
        script = benchlib.write(os.path.join(self.workdir, "static_inventory.py"), STATIC_SCRIPT % (sys.executable, data))
        os.chmod(script, 0o755)
        env = benchlib.ansible_env(self.emu, self.collection, self.workdir)
        walls = []
        for _run in range(repeat):
            result = benchlib.run([benchlib.bin_path("ansible-inventory"), "-i", script, "--list"], env, self.workdir,
                                  timeout=RUN_TIMEOUT)
            if result.returncode != 0 or len(json.loads(result.output)["_meta"]["hostvars"]) != len(listing["_meta"]["hostvars"]):
                raise RuntimeError("the static script inventory failed:\n%s" % result.output[-3000:])
            walls.append(result.seconds)
        return benchlib.median(walls)

    def median_wall(self, options: str, repeat: int) -> tuple[float, int]:
        """Median wall seconds of `repeat` runs and the host count."""
        walls, hosts = [], 0
        for _run in range(repeat):
            seconds, listing, _calls = self.inventory(options)
            walls.append(seconds)
            hosts = len(listing.get("_meta", {}).get("hostvars", {}))
        return benchlib.median(walls), hosts


def measure(count: int, repeat: int, workdir: str) -> dict[str, Any]:
    collection = benchlib.Collection(benchlib.REPO, "this", workdir)
    big = generate(count)
    figures: dict[str, Any] = {"instances": count, "repeat": repeat, "filter_sets": []}
    with benchlib.Emulator(big) as emu:
        bench = Bench(emu, collection, workdir)
        for label, options, wanted, by_zone in FILTER_SETS:
            _seconds, listing, calls = bench.inventory(options)
            figures["filter_sets"].append({
                "label": label, "hosts": len(listing["_meta"]["hostvars"]), "calls": calls,
                "expected_calls": expected_calls(big["instances"], wanted, by_zone)})
        figures["wall_plain"], figures["hosts"] = bench.median_wall("", repeat)
        _seconds, listing, _calls = bench.inventory("")
        figures["static_floor"] = bench.static_floor(listing, repeat)
        figures["hostvars_per_host"] = len(next(iter(listing["_meta"]["hostvars"].values()), {}))
        figures["wall_constructed"], _hosts = bench.median_wall(CONSTRUCTED, repeat)
        cache = "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % os.path.join(workdir, "cache")
        figures["cache_first_seconds"], _listing, figures["cache_first_calls"] = bench.inventory(CONSTRUCTED + cache)
        figures["cache_second_seconds"], _listing, figures["cache_second_calls"] = bench.inventory(CONSTRUCTED + cache)
    with benchlib.Emulator(generate(0)) as emu:
        bench = Bench(emu, collection, workdir)
        figures["empty_wall_plain"], _hosts = bench.median_wall("", repeat)
        figures["empty_wall_constructed"], _hosts = bench.median_wall(CONSTRUCTED, repeat)
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


def _wall_table(figures: dict[str, Any]) -> list[str]:
    lines = ["| `ansible-inventory --list` (median of %d) | %d instances | empty account | ratio | goal | |"
             % (figures["repeat"], figures["instances"]), "|---|---|---|---|---|---|"]
    for label, key in (("default options", "plain"), ("keyed_groups by zone, status and tag", "constructed")):
        wall, empty = figures["wall_" + key], figures["empty_wall_" + key]
        ratio = wall / empty if empty else float("inf")
        row = (label, wall, empty, ratio, MAX_RATIO, _verdict(ratio <= MAX_RATIO))
        lines.append("| %s | %.2f s | %.2f s | %.2f | <= %.0f | %s |" % row)
    return lines


def _floor_text(figures: dict[str, Any]) -> list[str]:
    empty = figures["empty_wall_plain"]
    values = (figures["hosts"], figures["hostvars_per_host"], figures["static_floor"],
              figures["static_floor"] / empty if empty else 0.0, figures["wall_plain"] - figures["static_floor"])
    return ["The same %d hosts and their %d variables each, printed by a script inventory (no API, no plugin): "
            "%.2f s, %.2f times the empty account. That is what ansible-inventory itself spends on them (the "
            "variables of every host, the JSON output); the plugin's own share of the default run is the "
            "difference, %.2f s." % values]


def _cache_table(figures: dict[str, Any]) -> list[str]:
    second = (figures["cache_second_calls"], figures["cache_second_seconds"],
              _verdict(figures["cache_second_calls"] == 0))
    return ["| cache on (jsonfile), keyed_groups | API calls | wall | goal | |", "|---|---|---|---|---|",
            "| first run | %d | %.2f s | | |" % (figures["cache_first_calls"], figures["cache_first_seconds"]),
            "| second run | %d | %.2f s | 0 calls | %s |" % second]


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
    ratios_ok = all(figures["wall_" + key] <= MAX_RATIO * figures["empty_wall_" + key] for key in ("plain", "constructed"))
    return calls_ok and ratios_ok and figures["cache_second_calls"] == 0


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
