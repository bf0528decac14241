# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_image_fleet against the emulator (default seed, scaled time): bad input refused before any call, a lost
CreateImage answer never resent, a record an earlier job left put back first, another job's live record left alone,
a key without tag permission warned once, every instance back in its power state, and a fleet of more than 100
stopped a hundred at a time, each hundred only once its records are written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image_fleet
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

RUNNING_ID, RUNNING_2, STOPPED_ID, FRA_ID = "ins-hkg-web-0001", "ins-hkg-web-0002", "ins-hkg-db-0001", "ins-fra-app-0001"
WRITES = ("CreateImage", "StopInstances", "StartInstances", "ModifyResourceTags")


def run(capsys: Any, instances: list[dict], check_mode: bool = False, **args: Any) -> dict:
    return run_module(zenlayer_image_fleet.main, capsys, dict(args, instances=instances), check_mode=check_mode)


def item(instance_id: str, name: str) -> dict:
    return {"instance_id": instance_id, "name": name}


def writes(emu: Any) -> list[dict]:
    return [request for request in emu.requests() if request["action"] in WRITES]


def statuses(emu: Any) -> dict[str, str]:
    return {inst["instanceId"]: inst["instanceStatus"] for inst in emu.state()["instances"]}


def test_bad_input_is_refused_before_any_call(emulator_env, capsys):
    for instances, words in (([], "empty"), ([item(RUNNING_ID, "a b")], "name must be"),
                             ([item(RUNNING_ID, "same"), item(STOPPED_ID, "same")], "name must differ"),
                             ([item(RUNNING_ID, "x1"), item(RUNNING_ID, "x2")], "instance_id must differ")):
        result = run(capsys, instances)
        assert result["failed"] and words in result["msg"], result["msg"]
    assert emulator_env.requests() == []


def test_an_instance_with_a_bad_name_fails_alone_before_any_call_for_it(emulator_env, capsys):
    result = run(capsys, [item(RUNNING_ID, "f-good"), item(RUNNING_2, "not a name")])
    assert result["failed"] and result["failed_keys"] == [RUNNING_2]
    assert "name must be" in result["outcomes"][RUNNING_2]["msg"] and "before any request" in result["outcomes"][RUNNING_2]["msg"]
    assert result["outcomes"][RUNNING_ID]["image"]["image_status"] == "AVAILABLE"
    assert not any(RUNNING_2 in json.dumps(request["body"]) for request in emulator_env.requests())
    emulator_env.settle()
    assert statuses(emulator_env)[RUNNING_2] == "RUNNING"


def test_images_three_instances_and_puts_the_power_back(emulator_env, capsys):
    before = statuses(emulator_env)
    result = run(capsys, [item(RUNNING_ID, "f-web1"), item(STOPPED_ID, "f-db1"), item(FRA_ID, "f-app1")])
    assert not result.get("failed"), result
    assert result["changed"] is True and result["failed_keys"] == []
    assert {key: out["image"]["image_status"] for key, out in result["outcomes"].items()} == dict.fromkeys(
        (RUNNING_ID, STOPPED_ID, FRA_ID), "AVAILABLE")
    emulator_env.settle()
    assert statuses(emulator_env) == before
    assert len(emulator_env.requests("StopInstances")) == 1
    assert not any(RECORD_TAG_KEY in emulator_env.tags(i) for i in (RUNNING_ID, STOPPED_ID, FRA_ID))
    again = run(capsys, [item(RUNNING_ID, "f-web1"), item(STOPPED_ID, "f-db1"), item(FRA_ID, "f-app1")])
    assert again["changed"] is False and not again.get("failed")


def test_a_lost_create_answer_is_never_sent_again(emulator_env, capsys):
    emulator_env.add_faults({"action": "CreateImage", "kind": "performed_drop"})
    result = run(capsys, [item(RUNNING_ID, "f-lost")])
    assert not result.get("failed"), result
    assert len(emulator_env.requests("CreateImage")) == 1
    assert [image["imageName"] for image in emulator_env.images(name="f-lost")] == ["f-lost"]
    assert result["outcomes"][RUNNING_ID]["image"]["image_status"] == "AVAILABLE"


def test_an_earlier_jobs_record_is_put_back_first_even_when_the_image_exists(emulator_env, capsys):
    assert not run(capsys, [item(RUNNING_ID, "f-kept")]).get("failed")
    emulator_env.settle()
    now = int(emulator_env.now())  # the emulator's time: the module's clock.time()
    emulator_env.patch(instances={RUNNING_ID: {"instanceStatus": "STOPPED", "tags": [
        {"key": RECORD_TAG_KEY, "value": "running.%d.%d.job-gone" % (now - 100, now - 10)}]}})
    result = run(capsys, [item(RUNNING_ID, "f-kept")])
    assert not result.get("failed"), result
    assert result["outcomes"][RUNNING_ID]["changed"] is True
    emulator_env.settle()
    assert statuses(emulator_env)[RUNNING_ID] == "RUNNING" and RECORD_TAG_KEY not in emulator_env.tags(RUNNING_ID)


def test_another_jobs_live_record_fails_that_instance_alone(emulator_env, capsys):
    now = int(emulator_env.now())  # the emulator's time: the module's clock.time()
    emulator_env.patch(instances={RUNNING_2: {"tags": [
        {"key": RECORD_TAG_KEY, "value": "running.%d.%d.job-alive" % (now, now + 3600)}]}})
    result = run(capsys, [item(RUNNING_ID, "f-free"), item(RUNNING_2, "f-held")])
    assert result["failed"] and result["failed_keys"] == [RUNNING_2]
    assert "job-alive" in result["outcomes"][RUNNING_2]["msg"]
    assert result["outcomes"][RUNNING_ID]["image"]["image_status"] == "AVAILABLE"
    assert not any(RUNNING_2 in (r["body"].get("instanceIds") or [r["body"].get("instanceId")]) for r in writes(emulator_env))


def test_without_tag_permission_it_warns_once_and_carries_on(emulator_env, capsys):
    emulator_env.patch(tag_denied_keys=[emulator_env.credentials.access_key_id])
    result = run(capsys, [item(RUNNING_ID, "f-nt1"), item(RUNNING_2, "f-nt2")])
    assert not result.get("failed"), result
    assert result["recorded"] is False
    assert str(result.get("warnings")).count("may not tag") == 1, result.get("warnings")
    emulator_env.settle()
    assert statuses(emulator_env)[RUNNING_ID] == "RUNNING" and statuses(emulator_env)[RUNNING_2] == "RUNNING"


def test_check_mode_predicts_per_instance_without_a_write(emulator_env, capsys):
    result = run(capsys, [item(RUNNING_ID, "f-chk"), item("ins-sin-app-0001", "f-sin")], check_mode=True)
    assert writes(emulator_env) == []
    assert result["failed_keys"] == ["ins-sin-app-0001"] and "does not support" in result["outcomes"]["ins-sin-app-0001"]["msg"]
    predicted = result["outcomes"][RUNNING_ID]
    assert predicted["changed"] is True and predicted["image"]["image_id"] is None
    assert predicted["image"]["image_status"] == "AVAILABLE"


def test_throttled_answers_are_waited_out_and_counted(emulator_env, capsys):
    emulator_env.add_faults({"action": "CreateImage", "kind": "throttle", "times": 2, "retry_after": 1})
    result = run(capsys, [item(STOPPED_ID, "f-thr")], rate_limit=5)
    assert not result.get("failed"), result
    assert result["throttled"] == 2
    created = emulator_env.requests("CreateImage")
    # each Retry-After (1 s on the clock the tests scale by 0.05) is waited out before the next try
    assert len(created) == 3 and created[2]["ts"] - created[0]["ts"] >= 2 * 1 * 0.05 - 0.005
    assert len(emulator_env.images(name="f-thr")) == 1


def _fleet_seed(count: int) -> dict:
    """The default seed's keys and zones, with `count` RUNNING instances in HKG-A."""
    with open(Path(__file__).parents[3] / "emulator" / "seeds" / "default.json", encoding="utf-8") as handle:
        seed = json.load(handle)
    seed["instances"] = [{"instanceId": "ins-big-%03d" % n, "zoneId": "HKG-A", "instanceName": "big-%03d" % n,
                          "instanceStatus": "RUNNING", "systemDiskSize": 20} for n in range(count)]
    return dict(seed, images=[], image_quota=count + 10)


@pytest.mark.emulator(seed=_fleet_seed(150))
def test_each_hundred_is_stopped_once_its_own_records_are_written(emulator_env, capsys):
    ids = ["ins-big-%03d" % n for n in range(150)]
    result = run(capsys, [item(instance_id, "big-%03d" % n) for n, instance_id in enumerate(ids)])
    assert not result.get("failed"), result.get("msg")
    log = emulator_env.requests()
    stops = [(n, entry["body"]["instanceIds"]) for n, entry in enumerate(log) if entry["action"] == "StopInstances"]
    assert [len(stopped) for _at, stopped in stops] == [100, 50]
    recorded_at = {entry["body"]["resourceUuid"]: n for n, entry in enumerate(log)
                   if entry["action"] == "ModifyResourceTags" and entry["body"].get("replaceTags")}
    # no instance is stopped before its record, and the first hundred does not wait for the records of the rest
    assert all(recorded_at[instance_id] < at for at, stopped in stops for instance_id in stopped)
    assert stops[0][0] < max(recorded_at.values())
    emulator_env.settle()
    assert set(statuses(emulator_env).values()) == {"RUNNING"}
    assert not any(RECORD_TAG_KEY in emulator_env.tags(instance_id) for instance_id in ids)
    made = [image["imageName"] for image in emulator_env.images() if image["imageName"].startswith("big-")]
    assert len(made) == len(set(made)) == 150


# The harshest reading of the API: writes take effect 2 s after they are accepted, and one write of the fleet is done
# but its answer is lost or is an error. Whatever write it hits, the fleet ends as if nothing had gone wrong.
PERFORMED_FAULTS = {"answer lost": {"kind": "performed_drop"},
                    "answered 502": {"kind": "performed_error", "status": 502, "code": "INTERNAL_SERVER_ERROR"}}


@pytest.mark.parametrize("fault", list(PERFORMED_FAULTS))
@pytest.mark.parametrize("write", ["ModifyResourceTags", "StopInstances", "CreateImage", "StartInstances"])
def test_a_write_done_but_not_answered_is_never_done_twice_with_asynchronous_writes(
        emulator_factory, capsys, monkeypatch, write, fault):
    emu = emulator_factory(extra_args=["--async-lag", "2.0"])
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    emu.add_faults(dict(PERFORMED_FAULTS[fault], action=write, times=1))
    before = statuses(emu)
    fleet = {RUNNING_ID: "ff-web1", RUNNING_2: "ff-web2", STOPPED_ID: "ff-db1"}
    result = run(capsys, [item(instance_id, name) for instance_id, name in fleet.items()])
    emu.settle(30)
    assert [rule["fired"] for rule in emu.faults()] == [1], "the fault must have hit the write"
    assert not result.get("failed"), result.get("msg")
    assert statuses(emu) == before
    for instance_id, name in fleet.items():
        assert [image["imageStatus"] for image in emu.images(name=name) if image["imageName"] == name] == ["AVAILABLE"]
        assert RECORD_TAG_KEY not in emu.tags(instance_id)
