# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_instance_power run in-process (its main()) against the emulator: the HTTP boundary is real, and the
assertions are on what reached the emulator (its request log and state)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_instance_power
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module, writes

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
from harness import load_seed  # noqa: E402  pylint: disable=wrong-import-position,import-error

RUNNING_1 = "ins-hkg-web-0001"
RUNNING_2 = "ins-hkg-web-0002"
STOPPED_1 = "ins-hkg-db-0001"


def seed_with(*instances: dict[str, Any], image_quota: int | None = None) -> dict:
    seed = load_seed("default")
    seed["instances"] = seed["instances"] + list(instances)
    if image_quota is not None:
        seed["image_quota"] = image_quota
    return seed


def many_instances(count: int, status: str = "RUNNING") -> dict:
    return seed_with(*({"instanceId": "ins-many-%04d" % number, "zoneId": "HKG-A", "instanceName": "many-%d" % number,
                        "instanceStatus": status} for number in range(count)))


def run(capsys: Any, *, check_mode: bool = False, **args: Any) -> dict:
    """The module's JSON result (`failed` is true when it called fail_json); always with diff."""
    return run_module(zenlayer_instance_power.main, capsys, args, check_mode=check_mode, diff=True)


def status(emu: Any, instance_id: str) -> str:
    return emu.instance(instance_id)["instanceStatus"]


def statuses(result: dict) -> dict[str, str]:
    return {item["instance_id"]: item["instance_status"] for item in result["instances"]}


# -- stop / start / restart ----------------------------------------------------------------------------------------


def test_stop_is_graceful_explicitly_and_idempotent(emulator_env, capsys):
    emu = emulator_env
    result = run(capsys, instance_ids=[RUNNING_1, STOPPED_1], state="stopped")
    assert result["changed"] is True and not result.get("failed")
    assert statuses(result) == {RUNNING_1: "STOPPED", STOPPED_1: "STOPPED"}
    assert result["instances"][0]["zone_id"] == "HKG-A" and result["instances"][0]["instance_name"] == "web-1"
    assert result["diff"] == {"before": {"instances": {RUNNING_1: "RUNNING", STOPPED_1: "STOPPED"}},
                              "after": {"instances": {RUNNING_1: "STOPPED", STOPPED_1: "STOPPED"}}}
    [stop] = writes(emu)
    assert stop["action"] == "StopInstances"
    assert stop["body"] == {"instanceIds": [RUNNING_1], "forceShutdown": False}
    assert emu.instance(RUNNING_1)["lastForceShutdown"] is False
    assert emu.instance(RUNNING_1)["lastForceShutdownSent"] is True

    emu.clear_requests()
    again = run(capsys, instance_ids=[RUNNING_1, STOPPED_1], state="stopped")
    assert again["changed"] is False and statuses(again) == {RUNNING_1: "STOPPED", STOPPED_1: "STOPPED"}
    assert [entry["action"] for entry in emu.requests()] == ["DescribeInstances"]


def test_force_shutdown_true_is_sent(emulator_env, capsys):
    emu = emulator_env
    result = run(capsys, instance_id=RUNNING_1, state="stopped", force_shutdown=True)
    assert result["changed"] is True
    assert writes(emu)[0]["body"]["forceShutdown"] is True
    assert emu.instance(RUNNING_1)["lastForceShutdown"] is True


def test_start_and_idempotence(emulator_env, capsys):
    emu = emulator_env
    result = run(capsys, instance_ids=[STOPPED_1, RUNNING_1], state="running")
    assert result["changed"] is True and statuses(result) == {STOPPED_1: "RUNNING", RUNNING_1: "RUNNING"}
    assert [(entry["action"], entry["body"]) for entry in writes(emu)] == [("StartInstances", {"instanceIds": [STOPPED_1]})]
    emu.clear_requests()
    assert run(capsys, instance_ids=[STOPPED_1, RUNNING_1], state="running")["changed"] is False
    assert not writes(emu)


def test_restarted_reboots_running_and_starts_stopped(emulator_env, capsys):
    emu = emulator_env
    result = run(capsys, instance_ids=[RUNNING_1, STOPPED_1], state="restarted")
    assert result["changed"] is True and statuses(result) == {RUNNING_1: "RUNNING", STOPPED_1: "RUNNING"}
    assert [(entry["action"], entry["body"]["instanceIds"]) for entry in writes(emu)] == [
        ("RebootInstances", [RUNNING_1]), ("StartInstances", [STOPPED_1])]
    moves = [(event["from"], event["to"]) for event in emu.events() if event["id"] == RUNNING_1]
    assert moves[-2:] == [("RUNNING", "REBOOT"), ("REBOOT", "RUNNING")]


def test_wait_false_returns_after_the_request(emulator_env, capsys):
    emu = emulator_env
    emu.patch(timings={"stop_seconds": 60})
    result = run(capsys, instance_id=RUNNING_1, state="stopped", wait=False)
    assert result["changed"] is True and statuses(result) == {RUNNING_1: "STOPPING"}
    assert [entry["action"] for entry in emu.requests()] == ["DescribeInstances", "StopInstances"]


# -- check mode --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state, expected", [("stopped", "STOPPED"), ("running", "RUNNING"), ("restarted", "RUNNING")])
def test_check_mode_predicts_without_writes(emulator_env, capsys, state, expected):
    emu = emulator_env
    result = run(capsys, instance_ids=[RUNNING_1, STOPPED_1], state=state, check_mode=True)
    assert result["changed"] is True and not result.get("failed")
    assert set(statuses(result).values()) == {expected}
    assert result["diff"]["before"] == {"instances": {RUNNING_1: "RUNNING", STOPPED_1: "STOPPED"}}
    assert not writes(emu)
    assert status(emu, RUNNING_1) == "RUNNING" and status(emu, STOPPED_1) == "STOPPED"


def test_check_mode_unchanged_when_already_there(emulator_env, capsys):
    result = run(capsys, instance_id=STOPPED_1, state="stopped", check_mode=True)
    assert result["changed"] is False and not writes(emulator_env)


# -- many instances --------------------------------------------------------------------------------------------


@pytest.mark.emulator(seed=many_instances(120))
def test_more_than_100_ids_are_chunked(emulator_env, capsys):
    emu = emulator_env
    ids = ["ins-many-%04d" % number for number in range(120)]
    result = run(capsys, instance_ids=ids, state="stopped")
    assert result["changed"] is True and set(statuses(result).values()) == {"STOPPED"}
    assert [len(entry["body"]["instanceIds"]) for entry in writes(emu)] == [100, 20]
    assert all(len(entry["body"]["instanceIds"]) <= 100 for entry in emu.requests() if "instanceIds" in entry["body"])
    polls = [entry for entry in emu.requests() if entry["action"] == "DescribeInstancesStatus"]
    assert polls and len(polls) % 2 == 0  # one call per 100 ids per poll
    assert all(entry["http_status"] == 200 for entry in emu.requests())
    emu.clear_requests()
    assert run(capsys, instance_ids=ids, state="stopped")["changed"] is False
    assert [entry["action"] for entry in emu.requests()] == ["DescribeInstances", "DescribeInstances"]


# -- transitional, IMAGING and dead-end states ------------------------------------------------------------------


def test_transitional_state_is_waited_out_then_acted_on(emulator_env, capsys):
    emu = emulator_env
    emu.patch(instances={RUNNING_1: {"instanceStatus": "STOPPING", "pending": {"to": "STOPPED", "at": 0}}})
    result = run(capsys, instance_id=RUNNING_1, state="running")
    assert result["changed"] is True and statuses(result) == {RUNNING_1: "RUNNING"}
    assert [entry["action"] for entry in writes(emu)] == ["StartInstances"]


def test_stopping_an_imaging_instance_is_a_no_op(emulator_env, capsys):
    emu = emulator_env
    emu.patch(instances={STOPPED_1: {"instanceStatus": "IMAGING"}})
    result = run(capsys, instance_id=STOPPED_1, state="stopped")
    assert result["changed"] is False and statuses(result) == {STOPPED_1: "IMAGING"}
    assert not writes(emu)


def _start_imaging(emu: Any, image_seconds: float) -> str:
    emu.patch(timings={"image_seconds": image_seconds})
    answer = emu.call("CreateImage", {"instanceId": STOPPED_1, "imageName": "db-golden"})
    assert answer.status == 200, answer
    return answer.body["response"]["imageId"]


def test_starting_an_imaging_instance_waits_for_the_image(emulator_env, capsys):
    emu = emulator_env
    _start_imaging(emu, 20)  # 1 s at the time scale of 0.05
    result = run(capsys, instance_id=STOPPED_1, state="running")
    assert result["changed"] is True and statuses(result) == {STOPPED_1: "RUNNING"}
    assert [entry["action"] for entry in writes(emu)] == ["CreateImage", "StartInstances"]
    assert emu.images(name="db-golden")[0]["imageStatus"] == "AVAILABLE"


def test_starting_an_imaging_instance_names_the_image_when_it_takes_too_long(emulator_env, capsys):
    emu = emulator_env
    image_id = _start_imaging(emu, 10000)
    result = run(capsys, instance_id=STOPPED_1, state="running", wait_timeout=1)
    assert result["failed"] is True
    assert "timed out" in result["msg"] and image_id in result["msg"] and "db-golden" in result["msg"]
    assert [entry["action"] for entry in writes(emu)] == ["CreateImage"]


def test_check_mode_predicts_the_start_after_the_image_without_waiting(emulator_env, capsys):
    emu = emulator_env
    _start_imaging(emu, 10000)
    result = run(capsys, instance_id=STOPPED_1, state="running", check_mode=True)
    assert result["changed"] is True and statuses(result) == {STOPPED_1: "RUNNING"}
    assert result["diff"]["before"] == {"instances": {STOPPED_1: "IMAGING"}}
    assert [entry["action"] for entry in writes(emu)] == ["CreateImage"]
    assert "DescribeInstancesStatus" not in [entry["action"] for entry in emu.requests()]


@pytest.mark.parametrize("dead_end", ["RECYCLE", "CREATE_FAILED", "RELEASING"])
def test_dead_end_states_fail_clearly_before_any_write(emulator_env, capsys, dead_end):
    emu = emulator_env
    emu.patch(instances={RUNNING_2: {"instanceStatus": dead_end}})
    result = run(capsys, instance_ids=[RUNNING_1, RUNNING_2], state="stopped")
    assert result["failed"] is True and result["changed"] is False
    assert "%s is %s" % (RUNNING_2, dead_end) in result["msg"] and RUNNING_1 not in result["msg"]
    assert not writes(emu) and status(emu, RUNNING_1) == "RUNNING"


def test_unknown_instance_fails_before_any_write(emulator_env, capsys):
    result = run(capsys, instance_ids=[RUNNING_1, "ins-nope"], state="stopped")
    assert result["failed"] is True and "ins-nope" in result["msg"] and "not found" in result["msg"]
    assert not writes(emulator_env)


def test_empty_list_does_nothing(emulator_env, capsys):
    result = run(capsys, instance_ids=[], state="stopped")
    assert result["changed"] is False and result["instances"] == []
    assert not emulator_env.requests()


# -- failures at the HTTP boundary -----------------------------------------------------------------------------


def test_lost_answer_to_stop_is_checked_not_repeated(emulator_env, capsys):
    emu = emulator_env
    emu.add_faults({"action": "StopInstances", "kind": "lose_response", "times": 1})
    result = run(capsys, instance_id=RUNNING_1, state="stopped")
    assert result["changed"] is True and statuses(result) == {RUNNING_1: "STOPPED"}
    performed = [entry for entry in emu.requests("StopInstances") if entry["performed"]]
    assert len(performed) == 1


def test_api_error_is_reported_with_its_code(emulator_env, capsys):
    emu = emulator_env
    emu.add_faults({"action": "StartInstances", "kind": "error", "status": 400, "code": "OPERATION_DENIED_TEST", "times": 1})
    result = run(capsys, instance_id=STOPPED_1, state="running")
    assert result["failed"] is True and result["msg"].startswith("Starting instance(s) %s failed" % STOPPED_1)
    assert result["error"]["code"] == "OPERATION_DENIED_TEST"


@pytest.mark.boundary  # no_log masking is ansible-core's
def test_secrets_never_reach_the_output(emulator_env, capsys):
    """The password given as a task argument, and echoed by an API error (a broken gateway): in no result."""
    password = emulator_env.credentials.access_key_password
    emulator_env.add_faults({"action": "StopInstances", "kind": "error", "status": 400, "code": "INVALID_PARAMETER",
                             "message": "the signature made with %s does not match (echoed)" % password})
    failed = run(capsys, instance_id=RUNNING_1, state="stopped", access_key_password=password)
    assert failed["failed"] is True and failed["error"]["code"] == "INVALID_PARAMETER"
    assert "does not match (echoed)" in failed["msg"], "the API's message is shown, less the secret"
    predicted = run(capsys, instance_id=RUNNING_1, state="stopped", check_mode=True, access_key_password=password)
    assert predicted["changed"] is True and not predicted.get("failed")
    for result in (failed, predicted):
        assert password not in json.dumps(result)
