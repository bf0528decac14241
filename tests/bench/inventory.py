# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the zenlayer.cloud.zenlayer_vm inventory plugin against the emulator (127.0.0.1 only).

    .venvs/core-2.19/bin/python tests/bench/inventory.py                       # prints the figures (Markdown)
    .venvs/core-2.19/bin/python tests/bench/inventory.py --update-doc docs/benchmarks.md

For each account size of --instances (generated instances, tests/emulator/seedgen.py) and each source configuration
(default options; keyed_groups on bare variable names; keyed_groups on an expression), `ansible-inventory --list` of
the plugin is measured side by side with its floor: `ansible-inventory --list` over a script inventory that prints
the plugin's own output (the same hosts, groups and variables), runs alternating, the minimum wall and CPU time of
--repeat runs of each. Also the DescribeInstances calls of several filter sets against ceil(matching / 1000) per
set, and the API calls of a second run with the cache on. Every run is bounded (timeout) and the emulator stops with
the script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
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
MAX_RATIO = 1.3
RUN_TIMEOUT = 300
MARK_START = "<!-- inventory-bench:start (written by tests/bench/inventory.py --update-doc; do not edit) -->"
MARK_END = "<!-- inventory-bench:end -->"
KEYED_BARE = """\
keyed_groups:
  - key: zenlayer_zone_id
    prefix: zone
  - key: zenlayer_tags
    prefix: tag
"""
KEYED_EXPRESSION = """\
keyed_groups:
  - key: zenlayer_instance_status | lower
    prefix: status
"""
CONFIGURATIONS: list[tuple[str, str, str, bool]] = [
    # (key, label, source options, whether the 1.3 x floor goal applies)
    ("plain", "default options", "", True),
    ("keyed", "keyed_groups by zone and by tag (bare variable names)", KEYED_BARE, True),
    ("expression", "keyed_groups by `zenlayer_instance_status \\| lower` (an expression: Jinja2 per host)",
     KEYED_EXPRESSION, False),
]
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
    """--list output without the {"__ansible_unsafe": ...} markers of values that hold a template."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def groups_of(listing: dict) -> dict[str, list[str]]:
    """Every group of a --list output with its hosts (sorted): what a floor must reproduce."""
    return {name: sorted(entry.get("hosts") or []) for name, entry in listing.items() if name != "_meta"}


def expected_calls(instances: list[dict], wanted: Callable[[dict], bool], by_zone: bool) -> int:
    """ceil(matching / 1000) per filter set (at least one call per set, even when it matches nothing)."""
    if not by_zone:
        return max(1, math.ceil(sum(1 for i in instances if wanted(i)) / PAGE_SIZE))
    zones = ("HKG-A", "FRA-A")
    return sum(max(1, math.ceil(sum(1 for i in instances if wanted(i) and i["zoneId"] == z) / PAGE_SIZE)) for z in zones)


class Timing(NamedTuple):
    """Wall seconds, and the CPU seconds (user + system) of the ansible-inventory process and its children."""

    wall: float
    cpu: float


def minimum(timings: list[Timing]) -> Timing:
    """The minimum wall and the minimum CPU time (each on its own) of several runs."""
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def timed(command: list[str], env: dict[str, str], cwd: str) -> tuple[Timing, Any]:
    """Run one command; its wall time and, from the children's resource usage, its CPU time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = benchlib.run(command, env, cwd, timeout=RUN_TIMEOUT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(result.seconds, cpu), result


def load_average() -> str:
    """The load averages as uptime prints them (1, 5, 15 minutes)."""
    return ", ".join("%.2f" % value for value in os.getloadavg())


class Bench:
    """ansible-inventory runs against one emulator."""

    def __init__(self, emu: Any, collection: Any, workdir: str) -> None:
        self.emu, self.collection, self.workdir = emu, collection, workdir

    def _list(self, source: str) -> tuple[Timing, dict]:
        env = benchlib.ansible_env(self.emu, self.collection, self.workdir)
        timing, result = timed([benchlib.bin_path("ansible-inventory"), "-i", source, "--list"], env, self.workdir)
        if result.returncode != 0:
            raise RuntimeError("ansible-inventory -i %s failed (%s):\n%s" % (source, result.returncode, result.output[-3000:]))
        return timing, json.loads(result.output[result.output.index("{"):])

    def inventory(self, options: str, name: str = "bench") -> tuple[Timing, dict, int]:
        """(timing, --list output, DescribeInstances calls) of one ansible-inventory --list of the plugin."""
        path = benchlib.write(os.path.join(self.workdir, "%s.zenlayer_vm.yml" % name),
                              "plugin: zenlayer.cloud.zenlayer_vm\n" + options)
        self.emu.clear_requests()
        timing, listing = self._list(path)
        return timing, listing, len(self.emu.requests("DescribeInstances"))

    def floor_script(self, listing: dict) -> str:
        """A script inventory that prints `listing` (the same hosts, groups and variables)."""
        data = benchlib.write(os.path.join(self.workdir, "listing.json"), json.dumps(plain(listing)))
        script = benchlib.write(os.path.join(self.workdir, "static_inventory.py"), STATIC_SCRIPT % (sys.executable, data))
        os.chmod(script, 0o755)
        return script

    def floor(self, script: str, listing: dict) -> Timing:
        """One ansible-inventory --list of the floor script, checked to give the plugin's hosts and groups."""
        timing, floor_listing = self._list(script)
        if (floor_listing["_meta"]["hostvars"].keys() != listing["_meta"]["hostvars"].keys()
                or groups_of(floor_listing) != groups_of(listing)):
            raise RuntimeError("the script floor does not give the plugin's hosts and groups")
        return timing

    def side_by_side(self, options: str, repeat: int) -> dict[str, Any]:
        """The plugin and its floor, runs alternating after one warm-up run: the minimum of each."""
        _warm, listing, calls = self.inventory(options)
        script = self.floor_script(listing)
        plugin_runs, floor_runs = [], []
        for _run in range(repeat):
            plugin_runs.append(self.inventory(options)[0])
            floor_runs.append(self.floor(script, listing))
        return {"plugin": minimum(plugin_runs)._asdict(), "floor": minimum(floor_runs)._asdict(), "calls": calls,
                "hosts": len(listing["_meta"]["hostvars"]), "groups": len(groups_of(listing)),
                "hostvars_per_host": len(next(iter(listing["_meta"]["hostvars"].values()), {}))}


def _filter_set_figures(bench: Bench, instances: list[dict]) -> list[dict[str, Any]]:
    figures = []
    for label, options, wanted, by_zone in FILTER_SETS:
        _timing, listing, calls = bench.inventory(options)
        figures.append({"label": label, "hosts": len(listing["_meta"]["hostvars"]), "calls": calls,
                        "expected_calls": expected_calls(instances, wanted, by_zone)})
    return figures


def _cache_figures(bench: Bench, workdir: str) -> dict[str, Any]:
    cache = "cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % os.path.join(workdir, "cache")
    figures = {}
    for run in ("cache_first", "cache_second"):
        timing, _listing, calls = bench.inventory(KEYED_BARE + cache)
        figures[run] = dict(timing._asdict(), calls=calls)
    return figures


def measure(counts: list[int], repeat: int, workdir: str) -> dict[str, Any]:
    collection = benchlib.Collection(benchlib.REPO, "this", workdir)
    figures: dict[str, Any] = {"counts": counts, "repeat": repeat, "load_before": load_average(), "sizes": {}}
    for count in counts:
        accounts = generate(count)
        with benchlib.Emulator(accounts) as emu:
            bench = Bench(emu, collection, workdir)
            size: dict[str, Any] = {key: bench.side_by_side(options, repeat) for key, _label, options, _goal in CONFIGURATIONS}
            if count == max(counts):
                size["filter_sets"] = _filter_set_figures(bench, accounts["instances"])
                size.update(_cache_figures(bench, workdir))
            figures["sizes"][str(count)] = size
    with benchlib.Emulator(generate(0)) as emu:
        bench = Bench(emu, collection, workdir)
        figures["empty"] = minimum([bench.inventory("")[0] for _run in range(repeat)])._asdict()
    figures["load_after"] = load_average()
    return figures


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _calls_table(count: int, size: dict[str, Any]) -> list[str]:
    lines = ["| filter set (%d instances) | hosts | DescribeInstances calls | goal: ceil(matching / 1000) per set | |" % count,
             "|---|---|---|---|---|"]
    for entry in size["filter_sets"]:
        met = entry["calls"] == entry["expected_calls"]
        row = (entry["label"], entry["hosts"], entry["calls"], entry["expected_calls"], _verdict(met))
        lines.append("| %s | %d | %d | %d | %s |" % row)
    return lines


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("inf")


def _floor_table(figures: dict[str, Any]) -> list[str]:
    lines = ["| instances | source | groups | plugin: wall (CPU) | script floor: wall (CPU) | plugin / floor: wall (CPU) "
             "| goal | |", "|---|---|---|---|---|---|---|---|"]
    for count in figures["counts"]:
        size = figures["sizes"][str(count)]
        for key, label, _options, goal in CONFIGURATIONS:
            entry = size[key]
            plugin_run, floor_run = entry["plugin"], entry["floor"]
            ratio = _ratio(plugin_run["wall"], floor_run["wall"])
            verdict = ("<= %.1f" % MAX_RATIO, _verdict(ratio <= MAX_RATIO)) if goal else ("none", "")
            lines.append("| %d | %s | %d | %.2f s (%.2f s) | %.2f s (%.2f s) | %.2f (%.2f) | %s | %s |" % (
                count, label, entry["groups"], plugin_run["wall"], plugin_run["cpu"], floor_run["wall"], floor_run["cpu"],
                ratio, _ratio(plugin_run["cpu"], floor_run["cpu"]), verdict[0], verdict[1]))
    return lines


def _floor_text(figures: dict[str, Any]) -> list[str]:
    largest = figures["sizes"][str(max(figures["counts"]))]["plain"]
    return ["The script floor is `ansible-inventory --list` over a script inventory that prints the plugin's own "
            "`--list` output: the same hosts (%d variables each), groups and variables, with no API and no plugin: "
            "what ansible-inventory itself spends on such an inventory. Each figure "
            "is the minimum of %d runs (wall and CPU each on its own), plugin and floor runs alternating in one "
            "process after a warm-up run, so both see the same load. An empty account costs %.2f s wall (%.2f s CPU): "
            "ansible-inventory's start." % (largest["hostvars_per_host"], figures["repeat"], figures["empty"]["wall"],
                                            figures["empty"]["cpu"]),
            "",
            *([_trust_note(), ""] if _trust_note() else []),
            "Load average (1, 5, 15 min) before: %s; after: %s; %d CPUs shared with other work. Wall times vary with "
            "the load, CPU times much less." % (figures["load_before"], figures["load_after"], os.cpu_count() or 1)]


def _trust_note() -> str:
    """Why the floor can cost more than the plugin from ansible-core 2.19 on (seen in a profile of both)."""
    version = tuple(int(part) for part in re.findall(r"\d+", benchlib.ansible_version())[:2] or (0, 0))
    if version < (2, 19):
        return ""
    return ("From ansible-core 2.19 the script plugin decodes the script's output with ansible-core's own JSON decoder "
            "and marks every string it read as trusted, while the plugin reads the API's answers with the standard "
            "decoder and trusts each distinct plain text once (a profile of both runs shows the difference there): "
            "at 5,000 hosts the floor can take longer than the plugin itself.")


def _cache_table(size: dict[str, Any]) -> list[str]:
    first, second = size["cache_first"], size["cache_second"]
    return ["| cache on (jsonfile), keyed_groups by zone and tag | API calls | wall (CPU) | goal | |",
            "|---|---|---|---|---|",
            "| first run | %d | %.2f s (%.2f s) | | |" % (first["calls"], first["wall"], first["cpu"]),
            "| second run | %d | %.2f s (%.2f s) | 0 calls | %s |" % (
                second["calls"], second["wall"], second["cpu"], _verdict(second["calls"] == 0))]


def render(figures: dict[str, Any], took: float) -> str:
    counts = figures["counts"]
    largest = figures["sizes"][str(max(counts))]
    header = (",".join(map(str, counts)), figures["repeat"], time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), took,
              platform.python_version(), benchlib.ansible_version(), os.cpu_count() or 1)
    lines = ["## 6. Inventory plugin `zenlayer.cloud.zenlayer_vm` (measured)", "",
             "Generated by `tests/bench/inventory.py --instances %s --repeat %d` on %s (%.0f s; Python %s, "
             "ansible-core %s, %d CPUs). Accounts of generated instances (`tests/emulator/seedgen.py`) on the "
             "emulator." % header, ""]
    lines += _floor_table(figures) + [""] + _floor_text(figures) + [""]
    lines += _calls_table(max(counts), largest) + [""] + _cache_table(largest) + [""]
    return "\n".join(lines)


def all_met(figures: dict[str, Any]) -> bool:
    largest = figures["sizes"][str(max(figures["counts"]))]
    calls_ok = all(entry["calls"] == entry["expected_calls"] for entry in largest["filter_sets"])
    ratios_ok = all(size[key]["plugin"]["wall"] <= MAX_RATIO * size[key]["floor"]["wall"]
                    for size in figures["sizes"].values() for key, _label, _options, goal in CONFIGURATIONS if goal)
    return calls_ok and ratios_ok and largest["cache_second"]["calls"] == 0


def update_doc(path: str, section: str) -> None:
    """Replace the section between the markers in `path` (append it with the markers when absent)."""
    benchlib.update_section(path, MARK_START, MARK_END, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1000,5000",
                        help="account sizes, comma-separated (default 1000,5000); the largest also gets the API call "
                             "and cache figures")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of the plugin and of its floor per figure (their minimum; default 3)")
    parser.add_argument("--update-doc", metavar="MARKDOWN", help="also write the section into this page (docs/benchmarks.md)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    try:
        counts = sorted({int(count) for count in args.instances.split(",")})
    except ValueError:
        parser.error("--instances must be numbers separated by commas")
    if not all(1 <= count <= 20000 for count in counts) or len(counts) > 4 or not 1 <= args.repeat <= 10:
        parser.error("--instances must be 1 to 4 sizes of 1 to 20000 and --repeat 1 to 10 (bounded load)")
    workdir = benchlib.tempdir("zenlayer-bench-inventory-")
    started = time.monotonic()
    try:
        figures = measure(counts, args.repeat, workdir)
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
