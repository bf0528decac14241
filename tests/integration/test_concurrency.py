# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrency (issue 5): 20 instances imaged at once by the role (forks 20, one inventory host per instance), then
the same play again: exactly 20 images, each AVAILABLE, 20 CreateImage calls in total, every instance back in its
original power state, and no secret in any output. The emulator rate-limits, so some calls are throttled."""

from __future__ import annotations

from pathlib import Path

from ansible_run import Scenario, duplicated_images, run_playbook, secret_seed

COUNT = 20
RATE_LIMIT = 40  # requests per second over all hosts: a fleet of 20 hits it


def _seed() -> dict:
    zones = ("HKG-A", "FRA-A")
    instances = [{"instanceId": "ins-fleet-%04d" % n, "zoneId": zones[n % 2], "instanceName": "fleet-%d" % n,
                  "instanceStatus": "STOPPED" if n % 4 == 3 else "RUNNING", "systemDiskSize": 20}
                 for n in range(COUNT)]
    return secret_seed(instances=instances, images=secret_seed()["images"], image_quota=COUNT + 5)


def _inventory(seed: dict) -> str:
    lines = ["[fleet]"] + ["fleet-%02d instance_id=%s ansible_connection=local" % (n, item["instanceId"])
                           for n, item in enumerate(seed["instances"])]
    return "\n".join(lines) + "\n"


PLAY = [{"hosts": "fleet", "gather_facts": False,
         "module_defaults": {"group/zenlayer.cloud.zenlayer": {"api_retries": 8}},
         "tasks": [{"name": "image", "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
                    "vars": {"image_from_instance_instance_id": "{{ instance_id }}",
                             "image_from_instance_name": "{{ inventory_hostname }}-golden"}}]}]


def test_twenty_instances_twice(tmp_path: Path, harness, collections_root: str) -> None:
    seed = _seed()
    original = {item["instanceId"]: item["instanceStatus"] for item in seed["instances"]}
    log = tmp_path / "emulator.log"
    with Scenario("concurrency", "20 instances imaged at once (forks 20, rate limit %d/s), then again" % RATE_LIMIT,
                  "image_from_instance", expect="20 images AVAILABLE, 20 CreateImage done, power as before") as sc, \
            harness.Emulator(seed, time_scale=0.05, rate_limit=RATE_LIMIT, log_file=str(log)) as emu:
        inventory = _inventory(seed)
        first = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "1", inventory=inventory, forks=COUNT,
                             verbosity=4, timeout=400)
        after_first = len(emu.requests())
        second = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "2", inventory=inventory, forks=COUNT,
                              verbosity=4, timeout=400)
        state = emu.state()
        images = [image for image in state["images"] if image.get("zoneId")]
        creates = emu.requests("CreateImage")
        throttled = [r for r in emu.requests() if r["code"] == "REQUEST_LIMIT_EXCEEDED"]
        available = len([i for i in images if i["imageStatus"] == "AVAILABLE"])
        performed = len([r for r in creates if r["performed"]])
        sc.outcome = ("first rc=%s (%.0f s), second rc=%s (%.0f s): %d images, %d AVAILABLE, %d CreateImage done "
                      "(+%d refused with 429 and retried), %d requests throttled in all"
                      % (first.rc, first.duration, second.rc, second.duration, len(images), available, performed,
                         len(creates) - performed, len(throttled)))
        sc.scan(first.output, first.results, second.output, second.results, log.read_text(encoding="utf-8"))
        sc.check_images(state)
        sc.check_power(state, original)
        assert first.rc == 0, first.report()
        assert second.rc == 0, second.report()
        assert duplicated_images(state) == 0
        assert len(images) == COUNT and all(i["imageStatus"] == "AVAILABLE" for i in images), images
        assert sorted(i["imageName"] for i in images) == sorted("fleet-%02d-golden" % n for n in range(COUNT))
        performed = [r for r in creates if r["performed"]]
        assert len(performed) == COUNT, len(performed)
        # the others were refused by the rate limit before anything was done (429), then retried
        assert all(r["code"] == "REQUEST_LIMIT_EXCEEDED" for r in creates if not r["performed"]), creates
        second_writes = [r["action"] for r in emu.requests()[after_first:] if not r["action"].startswith("Describe")]
        assert second_writes == [], second_writes
