# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet path (issue 12): the role's `tasks_from: fleet` over an inventory of instances (host variable
zenlayer_instance_id), run through ansible-playbook against the emulator.

* 30 hosts at --forks 1 and at --forks 30: the same writes (by action), the same result, one StopInstances, 30
  CreateImage, the starts sent as the images settle (each instance started once, at most one call per status look),
  each instance back in its original power state,
  no record left, 0 duplicates, at most 6 calls per instance.
* 3 hosts failing in different ways (zone quota full, image ending UNAVAILABLE, instance gone), and a host without
  an instance id, while 27 succeed: each failed instance in its original power state; only those 4 hosts fail.
* A re-run of the whole fleet makes 0 writes; --check predicts per host with 0 writes.
* The shipped playbooks/image_fleet_one_cycle.yml (issue 19), writes applied 2 s late: a key that may not call
  DescribeDisks and 12 throttled status polls in a row still image every host; an error that ends the run fails every
  host with the reason, publishes none, and no task hits a templating error.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ansible_run import run_playbook

TIME_SCALE = 0.05
COUNT = 30
ZONES = ("HKG-A", "FRA-A")
WRITES = ("CreateImage", "StopInstances", "StartInstances", "ModifyResourceTags", "DeleteImages",
          "ModifyImagesAttributes", "RebootInstances")

PLAY = [{"hosts": "fleet", "connection": "local", "gather_facts": False,
         "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
         "tasks": [
             {"name": "Image the fleet", "ansible.builtin.import_role": {"name": "zenlayer.cloud.image_from_instance",
                                                                         "tasks_from": "fleet"},
              "vars": {"image_from_instance_name": "{{ inventory_hostname }}-golden"}},
             {"name": "Show the image", "ansible.builtin.debug": {"var": "image_from_instance_image.image_id"}}]}]


def _seed(count: int = COUNT, quota: int | dict = 100, unavailable: tuple[str, ...] = ()) -> dict:
    instances = [{"instanceId": "ins-fl-%03d" % n, "zoneId": ZONES[n % 2], "instanceName": "fl-%03d" % n,
                  "instanceStatus": "STOPPED" if n % 5 == 4 else "RUNNING", "systemDiskSize": 20}
                 for n in range(count)]
    for item in instances:
        if item["instanceId"] in unavailable:
            item["imageOutcome"] = "UNAVAILABLE"
    return {"access_keys": {"AKIDEMULATOR00000001": "emulator-secret-0123456789"},
            "tokens": ["emulator-token-0123456789"],
            "zones": [{"zoneId": zone, "zoneName": zone, "supportImage": True} for zone in ZONES],
            "instances": instances, "images": [], "image_quota": quota,
            "timings": {"stop_seconds": 10, "start_seconds": 10, "image_seconds": 60}}


def _inventory(ids: list[str]) -> str:
    """One host per id; an empty id makes a host without zenlayer_instance_id."""
    return "[fleet]\n" + "".join(("fl-%03d zenlayer_instance_id=%s\n" % (n, instance_id)) if instance_id else "fl-%03d\n" % n
                                 for n, instance_id in enumerate(ids))


def _powers(emu) -> dict[str, str]:
    return {item["instanceId"]: item["instanceStatus"] for item in emu.state()["instances"]}


def _writes(emu) -> list[dict]:
    return [request for request in emu.requests() if request["action"] in WRITES]


def _failed_hosts(run) -> set[str]:
    return {result["host"] for result in run.results if result["status"] == "failed"}


def _images(emu) -> list[dict]:
    return [image for image in emu.state()["images"] if image.get("zoneId")]


def _run(harness, collections_root: str, tmp_path: Path, seed: dict, forks: int, ids: list[str] | None = None):
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        before = _powers(emu)
        ids = ids or [item["instanceId"] for item in seed["instances"]]
        run = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path, inventory=_inventory(ids), forks=forks,
                           timeout=240)
        emu.settle()
        after = _powers(emu)
        records = {instance_id: emu.tags(instance_id) for instance_id in after if emu.tags(instance_id)}
        return run, before, after, emu.requests(), _images(emu), records


def test_thirty_hosts_forks_1_and_30_same_calls_same_result(tmp_path: Path, harness, collections_root: str) -> None:
    outcomes = {}
    for forks in (1, 30):
        run, before, after, requests, images, records = _run(harness, collections_root, tmp_path / str(forks), _seed(), forks)
        assert run.rc == 0, run.report()
        assert after == before, "an instance is not in its original power state"
        names = sorted(image["imageName"] for image in images)
        assert names == sorted("fl-%03d-golden" % n for n in range(COUNT)), names
        assert all(image["imageStatus"] == "AVAILABLE" for image in images)
        assert not records, "a power record was left behind"
        # polls depend on timing, and so do the starts: instances are started as their images settle, one call per
        # 100 for those seen settled at a status look (a loaded machine sees them settle in more looks)
        starts = [request for request in requests if request["action"] == "StartInstances"]
        started = Counter(instance_id for request in starts if request["performed"]
                          for instance_id in request["body"]["instanceIds"])
        looks = sum(1 for request in requests if request["action"] == "DescribeInstancesStatus")
        calls = Counter(request["action"] for request in requests if request["action"] not in
                        ("DescribeInstancesStatus", "DescribeImages", "StartInstances", "ModifyResourceTags"))
        # by kind: "written", "renewed" (how many depends on how long the run takes, so on the load) and "removed"
        record_writes = Counter(kind for _entry, kind, _record in harness.record_writes(requests))
        published = {r["host"]: r["result"]["ansible_facts"]["image_from_instance_image"]["image_status"]
                     for r in run.results if "Publish this host's image" in r["task"]}
        outcomes[forks] = (calls, record_writes["written"], record_writes["removed"], published)
        running = sum(1 for status in before.values() if status == "RUNNING")
        assert calls["StopInstances"] == 1 and calls["CreateImage"] == COUNT, calls
        assert started == Counter(i for i, status in before.items() if status == "RUNNING"), started
        assert 1 <= len(starts) <= looks, (len(starts), looks)
        assert record_writes["written"] == record_writes["removed"] == running, record_writes
        assert len(requests) - record_writes["renewed"] <= 6 * COUNT, Counter(request["action"] for request in requests)
    assert outcomes[1] == outcomes[30]
    assert set(outcomes[1][3].values()) == {"AVAILABLE"} and len(outcomes[1][3]) == COUNT


def test_three_hosts_fail_in_different_ways_the_rest_succeed(tmp_path: Path, harness, collections_root: str) -> None:
    # zone FRA-A has room for 14 of its 15 instances (the last one listed fails on quota, before any stop),
    # ins-fl-006 (RUNNING) makes an UNAVAILABLE image, ins-gone is in the inventory but deleted from the cloud
    seed = _seed(quota={"default": 100, "FRA-A": 14}, unavailable=("ins-fl-006",))
    # and fl-031 has no instance id at all: it fails alone, with a message that says what to set
    ids = [item["instanceId"] for item in seed["instances"]] + ["ins-gone", ""]
    run, before, after, _requests, images, records = _run(harness, collections_root, tmp_path, seed, 30, ids)
    assert run.rc != 0
    assert _failed_hosts(run) == {"fl-029", "fl-006", "fl-030", "fl-031"}, run.report()
    messages = {r["host"]: r["result"]["ansible_facts"]["image_from_instance_failure"]
                for r in run.results if r["status"] == "failed"}
    assert "no room" in messages["fl-029"] and "UNAVAILABLE" in messages["fl-006"] and "not found" in messages["fl-030"]
    assert "zenlayer_instance_id" in messages["fl-031"]
    assert after == before, "a failed (or any) instance is not in its original power state"
    assert not records, "a power record was left behind"
    made = sorted(image["imageName"] for image in images if image["imageStatus"] == "AVAILABLE")
    assert len(made) == COUNT - 2 and "fl-029-golden" not in made
    assert len({image["imageName"] for image in images}) == len(images), "a duplicate image"


def test_rerun_makes_no_write_and_check_mode_predicts(tmp_path: Path, harness, collections_root: str) -> None:
    seed = _seed(count=12)
    ids = [item["instanceId"] for item in seed["instances"]]
    with harness.Emulator(seed, time_scale=TIME_SCALE) as emu:
        check = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "check", inventory=_inventory(ids),
                             forks=5, check=True)
        assert check.rc == 0, check.report()
        assert not _writes(emu), "check mode sent a write"
        predicted = {r["host"]: r for r in check.results if "Publish this host's image" in r["task"]}
        assert len(predicted) == 12 and all(r["status"] == "ok" and r["result"]["changed"] for r in predicted.values())
        first = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "1", inventory=_inventory(ids), forks=5)
        assert first.rc == 0, first.report()
        made = {r["host"]: r for r in first.results if "Publish this host's image" in r["task"]}

        def seen(run: dict) -> tuple:
            image = run["result"]["ansible_facts"]["image_from_instance_image"]
            return run["status"], run["result"]["changed"], image["image_name"], image["image_status"]
        assert {host: seen(run) for host, run in predicted.items()} == {host: seen(run) for host, run in made.items()}
        emu.settle()
        writes_after_first = len(_writes(emu))
        second = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "2", inventory=_inventory(ids), forks=5)
        assert second.rc == 0, second.report()
        assert len(_writes(emu)) == writes_after_first, "the re-run sent a write"
        again = {r["host"]: r["result"] for r in second.results if "Publish this host's image" in r["task"]}
        assert all(not result["changed"] for result in again.values()) and len(again) == 12
        recheck = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path / "recheck", inventory=_inventory(ids),
                               forks=5, check=True)
        assert recheck.rc == 0 and len(_writes(emu)) == writes_after_first
        assert all(not r["result"]["changed"] for r in recheck.results if "Publish this host's image" in r["task"])


# -- issue 19: the shipped playbook publishes no host without its image -------------------------------------------------
SHIPPED_PLAYBOOK = str(Path(__file__).parents[2] / "playbooks" / "image_fleet_one_cycle.yml")
LAGGED = ["--async-lag", "2"]  # every write takes effect 2 s after it was accepted
KEY_ID = "AKIDEMULATOR00000001"


def _shipped_inventory(count: int) -> str:
    return "[zenlayer_instances]\n" + "".join("fl-%03d zenlayer_instance_id=ins-fl-%03d\n" % (n, n) for n in range(count))


def _reported(run) -> dict[str, str]:
    """Each host's line from the playbook's last task, "Report the image"."""
    return {r["host"]: r["result"].get("msg", "") for r in run.results if r["task"] == "Report the image" and r["status"] == "ok"}


def test_the_shipped_playbook_images_every_host_without_disk_permission_and_through_12_s_of_throttled_polls(
        tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 19, item 3: a key that may not call DescribeDisks, and DescribeInstancesStatus answering 429 twelve
    times in a row (past the client's retries). On 0.2.0 the fleet task failed as a whole, every host was published
    ok with a null image, and "Report the image" hit a Jinja error."""
    count = 10
    seed = dict(_seed(count=count), denied_actions={KEY_ID: ["DescribeDisks"]})
    with harness.Emulator(seed, time_scale=TIME_SCALE, extra_args=LAGGED) as emu:
        before = _powers(emu)
        emu.add_faults({"action": "DescribeInstancesStatus", "kind": "throttle", "times": 12, "after": 1})
        run = run_playbook(emu, collections_root, SHIPPED_PLAYBOOK, tmp_dir=tmp_path, inventory=_shipped_inventory(count),
                           forks=5, timeout=240)
        assert run.rc == 0, run.report()
        assert emu.faults()[0]["fired"] == 12
        assert run.output.count("may not call DescribeDisks") == 1, run.report()
        reported = _reported(run)
        assert sorted(reported) == ["fl-%03d" % n for n in range(count)], run.report()
        assert all(line.endswith(" is AVAILABLE") and " image img-" in line for line in reported.values()), reported
        emu.settle(30)
        assert _powers(emu) == before
        assert not [instance_id for instance_id in before if emu.tags(instance_id)], "a power record was left behind"
        names = sorted(image["imageName"] for image in _images(emu) if image["imageStatus"] == "AVAILABLE")
        assert names == sorted("fl-%03d-golden" % n for n in range(count))


def test_the_shipped_playbook_fails_every_host_with_the_reason_when_the_run_ends_early(
        tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 19, item 3: an error that ends the fleet's run (here DescribeImageQuota answering 503, past the
    client's retries) fails every host with that reason; no host is published, and no task hits a Jinja error."""
    count = 6
    with harness.Emulator(_seed(count=count), time_scale=TIME_SCALE, extra_args=LAGGED) as emu:
        before = _powers(emu)
        emu.add_faults({"action": "DescribeImageQuota", "kind": "error", "status": 503, "times": None})
        run = run_playbook(emu, collections_root, SHIPPED_PLAYBOOK, tmp_dir=tmp_path, inventory=_shipped_inventory(count),
                           forks=5, timeout=240)
        assert run.rc != 0
        hosts = ["fl-%03d" % n for n in range(count)]
        assert sorted(_failed_hosts(run)) == hosts, run.report()
        for host in hosts:
            published = run.task("zenlayer.cloud.image_from_instance : Publish this host's image", host)
            assert published["status"] == "failed", published
            failure = published["result"]["ansible_facts"]["image_from_instance_failure"]
            assert "image quota" in failure and "SERVICE_TEMPORARY_UNAVAILABLE" in failure, failure
        assert not _reported(run), "a host was reported without its image"
        assert "has no attribute" not in run.output and "undefined" not in run.output.lower(), run.report()
        assert not _writes(emu), "a write was sent although the look failed"
        assert _powers(emu) == before
