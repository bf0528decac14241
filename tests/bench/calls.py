# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sections 1 and 3: API calls per task (measured from the emulator's log) and the role's overhead."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from benchlib import Collection, Emulator, ansible_env, bin_path, count_requests, instance, run, seed, write

RECAP = re.compile(r"^localhost\s*:.*?changed=(\d+).*?failed=(\d+)", re.MULTILINE)
ZONE = "HKG-A"

# (key, what, target calls or None, task yaml, check mode)
SCENARIOS = [
    ("rerun_instance_id", "re-run, nothing to do (instance_id)", 2,
     {"name": "bench-existing", "instance_id": "bench-stopped-1"}, False),
    ("rerun_zone_id", "re-run, nothing to do (zone_id)", 1,
     {"name": "bench-existing", "zone_id": ZONE}, False),
    ("check_mode_create", "check mode, image to create", None,
     {"name": "bench-new", "instance_id": "bench-stopped-2"}, True),
    ("create_wait", "create with wait", None,
     {"name": "bench-new", "instance_id": "bench-stopped-2"}, False),
]


def _image_play(args: dict, check_mode: bool) -> str:
    return json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "image", "zenlayer.cloud.zenlayer_image": args, "check_mode": check_mode}]}])


def role_play(instance_id: str, name: str) -> str:
    return json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "roles": [
        {"role": "zenlayer.cloud.image_from_instance",
         "vars": {"image_from_instance_instance_id": instance_id, "image_from_instance_name": name}}]}])


def _play(emu: Emulator, collection: Collection, workdir: str, key: str, play: str) -> dict[str, Any]:
    emu.clear_requests()
    path = write(os.path.join(workdir, key + ".yml"), play)
    done = run([bin_path("ansible-playbook"), "-i", "localhost,", path], ansible_env(emu, collection, workdir), workdir)
    recap = RECAP.search(done.output)
    result = count_requests(emu.requests())
    result.update({"ok": done.returncode == 0, "changed_tasks": int(recap.group(1)) if recap else None,
                   "wall_seconds": round(done.seconds, 2), "started": done.started, "ended": done.ended})
    if done.returncode:
        result["output_tail"] = done.output[-1500:]
    return result


def calls_per_task(collection: Collection, workdir: str) -> dict[str, Any]:
    """Each scenario once, counted from the emulator's request log (timings 2/3/2 s, time scale 1)."""
    world = seed([instance("bench-stopped-1", "STOPPED"), instance("bench-stopped-2", "STOPPED"),
                  instance("bench-running-1", "RUNNING")],
                 images=[{"imageId": "img-bench-existing", "imageName": "bench-existing", "zoneId": ZONE,
                          "imageStatus": "AVAILABLE", "imageType": "CUSTOM_IMAGE", "instanceId": "bench-stopped-1"}])
    rows = []
    with Emulator(world) as emu:
        for key, what, target, args, check_mode in SCENARIOS:
            row = _play(emu, collection, workdir, key, _image_play(args, check_mode))
            rows.append(dict(row, key=key, what=what, target=target))
        for key, what in (("role_running", "role on a running instance"), ("role_rerun", "role re-run")):
            row = _play(emu, collection, workdir, key, role_play("bench-running-1", "bench-role"))
            rows.append(dict(row, key=key, what=what, target=None))
    for row in rows:
        row.pop("started")
        row.pop("ended")
    return {"timings": world["timings"], "time_scale": 1.0, "rows": rows}


def _span(events: list[dict], instance_id: str, start: tuple[str, str], end: tuple[str, str]) -> float:
    """Seconds from the event start=(from, to) to the event end=(from, to) of an instance."""
    def stamp(pair: tuple[str, str]) -> float:
        return next(e["ts"] for e in events if e["id"] == instance_id and (e["from"], e["to"]) == pair)
    return stamp(end) - stamp(start)


def role_overhead(collection: Collection, workdir: str, timings: dict, repeats: int) -> dict[str, Any]:
    """The role's wall time over the emulator's own stop + image + start time, on a RUNNING instance."""
    samples = []
    for attempt in range(repeats):
        world = seed([instance("bench-role-1", "RUNNING")], timings=timings)
        with Emulator(world) as emu:
            row = _play(emu, collection, workdir, "role_overhead_%d" % attempt, role_play("bench-role-1", "bench-ro"))
            events = emu.events()
            reqs = emu.requests()
        cloud = (_span(events, "bench-role-1", ("RUNNING", "STOPPING"), ("STOPPING", "STOPPED"))
                 + _span(events, "bench-role-1", ("STOPPED", "IMAGING"), ("IMAGING", "STOPPED"))
                 + _span(events, "bench-role-1", ("STOPPED", "BOOTING"), ("BOOTING", "RUNNING")))
        api_span = reqs[-1]["ts"] - reqs[0]["ts"] if reqs else 0.0
        samples.append({"ok": row["ok"], "role_wall_seconds": round(row["wall_seconds"], 2),
                        "api_span_seconds": round(api_span, 2), "cloud_seconds": round(cloud, 2),
                        "ratio_wall": round(row["wall_seconds"] / cloud, 3),
                        "ratio_api_span": round(api_span / cloud, 3), "calls": row["calls"], "writes": row["writes"]})
    return {"timings": timings, "time_scale": 1.0, "samples": samples}
