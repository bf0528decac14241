# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A failure after a write was sent (or may have been sent) reports changed: true, for every module that writes:
a re-run then knows something changed, and the role knows the instance's power must be put back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image, zenlayer_image_line, zenlayer_instance_power
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import on_request, run_module

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"
READS_FAIL = {"kind": "error", "status": 503, "code": "SERVICE_TEMPORARY_UNAVAILABLE", "times": None}


def performed(emu: Any, action: str) -> int:
    return sum(1 for entry in emu.requests(action) if entry["performed"])


# -- zenlayer_instance_power -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state, instance_id, action", [("stopped", RUNNING_ID, "StopInstances"),
                                                        ("running", STOPPED_ID, "StartInstances"),
                                                        ("restarted", RUNNING_ID, "RebootInstances")])
def test_power_action_done_then_its_answer_and_every_read_lost(emulator_env, capsys, state, instance_id, action):
    emulator_env.add_faults({"action": action, "kind": "lose_response_5xx"},
                            dict(READS_FAIL, action="DescribeInstancesStatus"))
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [instance_id], "state": state})
    assert result["failed"] is True and performed(emulator_env, action) == 1
    assert result["changed"] is True, "the action was done: the failure must say so"


def test_power_action_done_then_the_wait_times_out(emulator_env, capsys):
    emulator_env.patch(timings={"stop_seconds": 10000})
    result = run_module(zenlayer_instance_power.main, capsys,
                        {"instance_ids": [RUNNING_ID], "state": "stopped", "wait_timeout": 5})
    assert result["failed"] is True and "timed out" in result["msg"]
    assert result["changed"] is True
    assert [item["instance_status"] for item in result["instances"]] == ["STOPPING"]


def test_power_action_refused_by_the_api_reports_no_change(emulator_env, capsys):
    emulator_env.add_faults({"action": "StopInstances", "kind": "error", "status": 400, "code": "OPERATION_DENIED_TEST"})
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "stopped"})
    assert result["failed"] is True and result["changed"] is False, "a refused write changed nothing"


# -- zenlayer_image ------------------------------------------------------------------------------------------------


def test_image_created_then_the_wait_times_out(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 10000})
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web", "wait_timeout": 5})
    assert result["failed"] is True and "re-run the task to resume the wait" in result["msg"]
    assert result["changed"] is True and result["image"]["image_status"] == "CREATING"


def test_image_created_then_every_read_fails(emulator_env, capsys):
    emulator_env.add_faults({"action": "CreateImage", "kind": "lose_response_5xx"},
                            {"action": "DescribeImages", "kind": "error", "status": 503, "times": None, "after": 1})
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web"})
    assert result["failed"] is True and performed(emulator_env, "CreateImage") == 1
    assert result["changed"] is True


def test_image_delete_whose_outcome_is_unknown_reports_a_change(emulator_env, capsys):
    emulator_env.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A"}})
    emulator_env.add_faults({"action": "DeleteImages", "kind": "error", "status": 503, "times": None})
    result = run_module(zenlayer_image.main, capsys, {"zone_id": "HKG-A", "name": "web", "state": "absent"})
    assert result["failed"] is True and result["changed"] is True, "a 5xx may follow a delete that was done"


def test_image_delete_done_then_answer_lost_succeeds_as_a_change(emulator_env, capsys):
    emulator_env.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A"}})
    emulator_env.add_faults({"action": "DeleteImages", "kind": "lose_response_5xx"})
    result = run_module(zenlayer_image.main, capsys, {"zone_id": "HKG-A", "name": "web", "state": "absent"})
    assert not result.get("failed") and result["changed"] is True
    assert emulator_env.images(name="web") == []


def test_description_update_done_then_answer_lost_is_a_change(emulator_env, capsys):
    emulator_env.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A", "imageDescription": "old"}})
    emulator_env.add_faults({"action": "ModifyImagesAttributes", "kind": "lose_response_5xx", "times": None})
    result = run_module(zenlayer_image.main, capsys, {"zone_id": "HKG-A", "name": "web", "description": "new"})
    assert result["failed"] is True and result["changed"] is True
    assert emulator_env.images(name="web")[0]["imageDescription"] == "new"


@pytest.mark.long
def test_a_reboot_whose_answer_was_lost_and_that_was_not_seen_is_never_sent_twice(emulator_env, capsys):
    emulator_env.add_faults({"action": "RebootInstances", "kind": "error", "status": 502, "code": "INTERNAL_SERVER_ERROR"})
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "restarted"})
    assert result["failed"] is True and "not sent again" in result["msg"] and "check the instance" in result["msg"]
    assert result["changed"] is True, "the reboot may have been done"
    assert len(emulator_env.requests("RebootInstances")) == 1


@pytest.mark.long
def test_a_stop_whose_outcome_is_unknown_is_not_sent_again_and_the_failure_says_so(emulator_env, capsys):
    """A 502 for a stop that was not done: the run waits for its effect until wait_timeout (600 s on the scaled clock),
    sends nothing more, and fails saying the outcome is unknown and what a re-run does; the re-run stops it."""
    emulator_env.add_faults({"action": "StopInstances", "kind": "error", "status": 502, "code": "INTERNAL_SERVER_ERROR"})
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "stopped"})
    assert result["failed"] is True and result["changed"] is True
    assert "outcome of StopInstances is unknown" in result["msg"] and "not sent again" in result["msg"], result["msg"]
    assert [entry["performed"] for entry in emulator_env.requests("StopInstances")] == [False]
    rerun = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "stopped"})
    assert not rerun.get("failed") and rerun["changed"] is True


@pytest.mark.boundary  # the environment fallback is ansible-core's
def test_empty_environment_values_count_as_unset(emulator_env, capsys, monkeypatch):
    """Issue 11, item 10: AWX injects an unused credential field as an empty variable."""
    for name in ("ZENLAYERCLOUD_VALIDATE_CERTS", "ZENLAYERCLOUD_CLIENT_TIMEOUT", "ZENLAYERCLOUD_API_RETRIES",
                 "ZENLAYERCLOUD_ACCESS_TOKEN"):
        monkeypatch.setenv(name, "")
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "running"})
    assert not result.get("failed"), result.get("msg")  # 0.1.0: "" is not a valid float for client_timeout
    assert [item["instance_status"] for item in result["instances"]] == ["RUNNING"]


# -- zenlayer_image_line -------------------------------------------------------------------------------------------

LINE = {"instance_id": STOPPED_ID, "prefix": "web-", "now": "2026-11-30T02:00:00Z"}


def _line_of(emu: Any, *stamps: str, quota: int = 10) -> None:
    emu.patch(image_quota=quota, images={"img-web-%s" % stamp: {"imageName": "web-" + stamp, "zoneId": "HKG-A"}
                                         for stamp in stamps})


def test_line_room_made_then_the_create_refused(emulator_env, capsys):
    _line_of(emulator_env, "202611280200", "202611290200", quota=2)
    emulator_env.add_faults({"action": "CreateImage", "kind": "error", "status": 400,
                             "code": "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE"})
    result = run_module(zenlayer_image_line.main, capsys, dict(LINE, make_room=True))
    assert result["failed"] is True and performed(emulator_env, "DeleteImages") == 1
    assert result["changed"] is True, "the oldest image of the line was deleted to make room"


def test_line_image_made_then_the_wait_times_out_deletes_nothing(emulator_env, capsys):
    _line_of(emulator_env, "202611280200", "202611290200")
    emulator_env.patch(timings={"image_seconds": 10000})
    result = run_module(zenlayer_image_line.main, capsys, dict(LINE, keep=1, wait_timeout=5))
    assert result["failed"] is True and "re-run the task to resume the wait" in result["msg"]
    assert result["changed"] is True and emulator_env.requests("DeleteImages") == []
    made = result["image"]["image_id"]
    # AVAILABLE only once the re-run (a later minute, its own name) has seen the line's newest image CREATING twice (its
    # look, its wait's first poll), whatever the load - found AVAILABLE, it would rightly make the new minute's image

    def made_now() -> None:
        emulator_env.patch(images={made: {"pending": {"to": "AVAILABLE", "at": time.time()}}})

    with on_request("DescribeImages", made_now, nth=2, when="after"):
        resumed = run_module(zenlayer_image_line.main, capsys, dict(LINE, keep=1, now="2026-11-30T02:40:00Z"))
    assert not resumed.get("failed") and resumed["image"]["image_id"] == made, "the re-run waits for the same image: %s" % resumed.get("msg")
    assert resumed["deleted_image_ids"] == ["img-web-202611290200", "img-web-202611280200"]
    assert len(emulator_env.requests("CreateImage")) == 1


def test_line_delete_for_keep_whose_outcome_is_unknown_reports_a_change(emulator_env, capsys):
    _line_of(emulator_env, "202611280200", "202611290200")
    emulator_env.add_faults({"action": "DeleteImages", "kind": "error", "status": 503, "times": None})
    result = run_module(zenlayer_image_line.main, capsys, dict(LINE, keep=1))
    assert result["failed"] is True and result["changed"] is True
    assert "Deleting image img-web-202611290200" in result["msg"]
