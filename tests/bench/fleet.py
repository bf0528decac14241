# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sections 4 and 5: the fleet under a rate limit, and module start-up / import cost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

from benchlib import Collection, Emulator, ansible_env, bin_path, count_requests, instance, median, run, seed, write

HOST_RECAP = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)
STATES = ("RUNNING", "STOPPING", "STOPPED", "IMAGING", "BOOTING")


def _timeline(events: list[dict], ids: list[str], started: float, ended: float, steps: int = 120) -> dict[str, Any]:
    """Instances per state, sampled `steps` times between started and ended (for the plot)."""
    changes = sorted((e["ts"], e["id"], e["to"]) for e in events if e["kind"] == "instance")
    status = dict.fromkeys(ids, "RUNNING")
    samples, index = [], 0
    for step in range(steps + 1):
        moment = started + (ended - started) * step / steps
        while index < len(changes) and changes[index][0] <= moment:
            status[changes[index][1]] = changes[index][2]
            index += 1
        counts = dict.fromkeys(STATES, 0)
        for value in status.values():
            counts[value] = counts.get(value, 0) + 1
        samples.append([round(moment - started, 2)] + [counts[name] for name in STATES])
    return {"states": list(STATES), "samples": samples}


def _play(path: str, rate_limit: float) -> list[dict]:
    """The per-host role (each host its own cycle) or the fleet path (tasks_from: fleet, one cycle for all)."""
    if path == "per_host":
        return [{"hosts": "fleet", "connection": "local", "gather_facts": False,
                 "roles": [{"role": "zenlayer.cloud.image_from_instance",
                            "vars": {"image_from_instance_instance_id": "{{ zenlayer_instance_id }}",
                                     "image_from_instance_name": "{{ inventory_hostname }}-golden"}}]}]
    return [{"hosts": "fleet", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "Image the fleet", "ansible.builtin.import_role": {
                 "name": "zenlayer.cloud.image_from_instance", "tasks_from": "fleet"},
                 "vars": {"image_from_instance_name": "{{ inventory_hostname }}-golden",
                          "image_from_instance_rate_limit": rate_limit or 20}}]}]


def fleet(collection: Collection, workdir: str, *, instances: int, forks: int, rate_limit: float, timings: dict,
          time_scale: float, path: str = "per_host") -> dict[str, Any]:
    ids = ["fleet-%04d" % number for number in range(instances)]
    world = seed([instance(i, "RUNNING", "HKG-A" if n % 2 == 0 else "FRA-A") for n, i in enumerate(ids)],
                 timings=timings, image_quota=instances + 10)
    inventory = write(os.path.join(workdir, "fleet-%s-%s-%d.ini" % (collection.label, path, instances)), "[fleet]\n" + "".join(
        "%s zenlayer_instance_id=%s\n" % (i, i) for i in ids))
    play = write(os.path.join(workdir, "fleet-%s.yml" % path), json.dumps(_play(path, rate_limit)))
    with Emulator(world, time_scale=time_scale, rate_limit=rate_limit) as emu:
        done = run([bin_path("ansible-playbook"), "-i", inventory, "--forks", str(forks), play],
                   ansible_env(emu, collection, workdir), workdir, timeout=2400)
        requests, events, state = emu.requests(), emu.events(), emu.state()
    recaps = HOST_RECAP.findall(done.output)
    failed_hosts = sorted(host for host, unreachable, failed in recaps if int(unreachable) or int(failed))
    counted = count_requests(requests)
    answered = counted["calls"] - counted["throttled"]
    cloud_seconds = (timings["stop_seconds"] + timings["image_seconds"] + timings["start_seconds"]) * time_scale
    ideal = max(max(0.0, answered - rate_limit) / rate_limit if rate_limit else 0.0, cloud_seconds)
    images_ok = sum(1 for image in state["images"] if image.get("zoneId") and image["imageStatus"] == "AVAILABLE")
    names = [image["imageName"] for image in state["images"] if image.get("zoneId")]
    running = sum(1 for item in state["instances"] if item["instanceStatus"] == "RUNNING")
    result = {"path": path, "duplicate_images": len(names) - len(set(names)),
              "records_left": sum(1 for item in state["instances"] if item.get("tags")),
              "instances": instances, "forks": forks, "rate_limit": rate_limit, "timings": timings,
              "time_scale": time_scale, "ok": done.returncode == 0 and len(recaps) == instances,
              "failed_hosts": len(failed_hosts) if recaps else instances, "images_available": images_ok,
              "instances_running_after": running, "calls": counted["calls"], "throttled_429": counted["throttled"],
              "writes": counted["writes"], "calls_per_instance": round(counted["calls"] / instances, 2),
              "answered_per_instance": round(answered / instances, 2), "by_action": counted["by_action"],
              "wall_seconds": round(done.seconds, 1), "cloud_seconds_per_instance": cloud_seconds,
              "ideal_seconds": round(ideal, 1), "ratio_to_ideal": round(done.seconds / ideal, 2) if ideal else None,
              "timeline": _timeline(events, ids, done.started, done.ended)}
    if not result["ok"]:
        result["output_tail"] = done.output[-3000:]
    return result


def startup(collection: Collection, workdir: str, repeats: int) -> dict[str, Any]:
    """An ad-hoc no-op zenlayer_image against ansible.builtin.ping (median wall seconds), and the import cost."""
    world = seed([instance("bench-su-1", "STOPPED")],
                 images=[{"imageId": "img-su", "imageName": "bench-su", "zoneId": "HKG-A", "imageStatus": "AVAILABLE",
                          "imageType": "CUSTOM_IMAGE", "instanceId": "bench-su-1"}])
    image_times, ping_times = [], []
    with Emulator(world) as emu:
        env = ansible_env(emu, collection, workdir)
        base = [bin_path("ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m"]
        for _attempt in range(repeats):
            ping_times.append(run(base + ["ansible.builtin.ping"], env, workdir).seconds)
            noop = run(base + ["zenlayer.cloud.zenlayer_image", "-a", "name=bench-su zone_id=HKG-A"], env, workdir)
            image_times.append(noop.seconds)
    imports = _import_cost(collection, repeats)
    return {"repeats": repeats, "ping_seconds": round(median(ping_times), 3),
            "zenlayer_image_seconds": round(median(image_times), 3),
            "ratio": round(median(image_times) / median(ping_times), 3), "imports": imports}


IMPORT_PROBE = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import ansible.module_utils.basic
t1 = time.perf_counter()
import requests
t2 = time.perf_counter()
from ansible_collections.zenlayer.cloud.plugins.module_utils import _api, _base, _image, _instance
t3 = time.perf_counter()
print(json.dumps({"basic": t1 - t0, "requests": t2 - t1, "module_utils": t3 - t2}))
"""


def _import_cost(collection: Collection, repeats: int) -> dict[str, float]:
    """Median seconds to import AnsibleModule's basic, then requests, then our module_utils (fresh process each)."""
    samples = []
    for _attempt in range(max(5, repeats)):
        done = subprocess.run([sys.executable, "-c", IMPORT_PROBE, collection.root], check=True, stdout=subprocess.PIPE)
        samples.append(json.loads(done.stdout.decode("utf-8")))
    return {key + "_ms": round(1000 * median([s[key] for s in samples]), 1) for key in ("basic", "requests", "module_utils")}
