# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Section 2: detection latency and status calls, simulated (latency_sim.py) and measured end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchlib import Collection, Emulator, ansible_env, bin_path, instance, run, seed

HERE = os.path.dirname(os.path.abspath(__file__))


def simulated(collection: Collection, spec: dict) -> dict[str, Any]:
    """The virtual-clock comparison, run by the collection's own code in a child process."""
    done = subprocess.run([sys.executable, os.path.join(HERE, "latency_sim.py"), collection.root, json.dumps(spec)],
                          check=True, stdout=subprocess.PIPE, timeout=600)
    return json.loads(done.stdout.decode("utf-8"))


def measured(collection: Collection, workdir: str, image_times: list[float]) -> list[dict[str, Any]]:
    """The module end to end (ad-hoc ansible, time scale 1) on a STOPPED instance, one image time after another."""
    rows = []
    for image_seconds in image_times:
        world = seed([instance("bench-lat-1", "STOPPED")],
                     timings={"stop_seconds": 1, "start_seconds": 1, "image_seconds": image_seconds})
        with Emulator(world) as emu:
            done = run([bin_path("ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m",
                        "zenlayer.cloud.zenlayer_image", "-a", "name=bench-lat instance_id=bench-lat-1"],
                       ansible_env(emu, collection, workdir), workdir)
            requests = emu.requests()
            events = emu.events()
        created = next(r["ts"] for r in requests if r["action"] == "CreateImage")
        available = next(e["ts"] for e in events if e["kind"] == "image" and e["to"] == "AVAILABLE")
        polls = [r for r in requests if r["action"] == "DescribeImages" and r["ts"] >= created]
        rows.append({"image_seconds": image_seconds, "ok": done.returncode == 0,
                     "detect_latency": round(polls[-1]["ts"] - available, 3) if polls else None,
                     "return_latency": round(done.ended - available, 3),
                     "status_calls": len(polls), "module_wall_seconds": round(done.seconds, 3)})
    return rows
