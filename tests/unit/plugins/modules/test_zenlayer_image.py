# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_image run in-process (its main()) against the emulator; assertions on what reached the emulator."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import on_request, run_module, writes

STOPPED_HKG = "ins-hkg-db-0001"
RUNNING_HKG = "ins-hkg-web-0001"
BROKEN_FRA = "ins-fra-broken-0001"


def run(capsys: Any, **args: Any) -> dict:
    check_mode = args.pop("check_mode", False)
    return run_module(zenlayer_image.main, capsys, args, check_mode=check_mode, diff=True)


def stop(emulator: Any, instance_id: str) -> None:
    emulator.patch(instances={instance_id: {"instanceStatus": "STOPPED"}})


# -- the life cycle -------------------------------------------------------------------------------------------------


def test_check_create_rerun_update_absent(emulator_env, capsys):
    emu = emulator_env
    predicted = run(capsys, instance_id=STOPPED_HKG, name="web", check_mode=True)
    assert predicted["changed"] is True and not predicted.get("failed")
    assert predicted["image"]["image_id"] is None
    assert predicted["image"]["image_status"] == "AVAILABLE", "a real run with wait=true ends AVAILABLE"
    assert predicted["image"]["zone_id"] == "HKG-A" and predicted["image"]["image_size"] == 80
    assert predicted["diff"] == {"before": {}, "after": {"image_name": "web", "image_description": None,
                                                         "image_status": "AVAILABLE"}}
    assert writes(emu) == []

    created = run(capsys, instance_id=STOPPED_HKG, name="web", description="first")
    assert created["changed"] is True
    image = created["image"]
    assert image["image_status"] == "AVAILABLE" and image["image_id"].startswith("img-")
    assert image["instance_id"] == STOPPED_HKG and image["image_description"] == "first"
    assert [w["action"] for w in writes(emu)] == ["CreateImage"]

    emu.clear_requests()
    again = run(capsys, instance_id=STOPPED_HKG, name="web", description="first")
    assert again["changed"] is False and again["image"]["image_id"] == image["image_id"]
    assert [r["action"] for r in emu.requests()] == ["DescribeInstances", "DescribeImages"]

    emu.clear_requests()
    by_zone = run(capsys, zone_id="HKG-A", name="web")
    assert by_zone["changed"] is False and "instance_id" not in by_zone["image"]
    assert [r["action"] for r in emu.requests()] == ["DescribeImages"]

    emu.clear_requests()
    both = run(capsys, zone_id="HKG-A", instance_id=STOPPED_HKG, name="web")
    assert both["changed"] is False and both["image"]["image_id"] == image["image_id"]
    assert [r["action"] for r in emu.requests()] == ["DescribeInstances", "DescribeImages"]

    wrong_zone = run(capsys, zone_id="FRA-A", instance_id=STOPPED_HKG, name="web")
    assert wrong_zone["failed"] is True and "HKG-A" in wrong_zone["msg"] and "FRA-A" in wrong_zone["msg"]

    assert run(capsys, instance_id=STOPPED_HKG, name="web", check_mode=True)["changed"] is False

    emu.clear_requests()
    predicted_update = run(capsys, zone_id="HKG-A", name="web", description="second", check_mode=True)
    assert predicted_update["changed"] is True and predicted_update["image"]["image_description"] == "second"
    assert writes(emu) == []
    updated = run(capsys, zone_id="HKG-A", name="web", description="second")
    assert updated["changed"] is True
    assert updated["diff"]["before"]["image_description"] == "first"
    assert updated["diff"]["after"]["image_description"] == "second"
    assert [w["body"] for w in writes(emu)] == [{"imageIds": [image["image_id"]], "imageDescription": "second"}]
    assert emu.images(name="web")[0]["imageDescription"] == "second"

    emu.clear_requests()
    assert run(capsys, zone_id="HKG-A", name="web", state="absent", check_mode=True)["changed"] is True
    assert writes(emu) == []
    deleted = run(capsys, zone_id="HKG-A", name="web", state="absent")
    assert deleted["changed"] is True and deleted["image"]["image_id"] == image["image_id"]
    assert deleted["diff"]["after"] == {} and deleted["diff"]["before"]["image_name"] == "web"
    assert emu.images(name="web") == []
    gone = run(capsys, zone_id="HKG-A", name="web", state="absent")
    assert gone["changed"] is False and gone["image"] is None
    assert [w["action"] for w in writes(emu)] == ["DeleteImages"]


def test_exact_name_beside_a_substring_neighbour(emulator_env, capsys):
    emulator_env.patch(images={"img-web-old": {"imageName": "web-old", "zoneId": "HKG-A", "imageType": "CUSTOM_IMAGE"}})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["changed"] is True and result["image"]["image_id"] != "img-web-old"
    assert sorted(i["imageName"] for i in emulator_env.images(zone_id="HKG-A")) == ["web", "web-old"]


def test_duplicate_names_fail_and_list_ids(emulator_env, capsys):
    emulator_env.patch(images={"img-dup-1": {"imageName": "web", "zoneId": "HKG-A"},
                               "img-dup-2": {"imageName": "web", "zoneId": "HKG-A"}})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["failed"] is True
    assert "img-dup-1" in result["msg"] and "img-dup-2" in result["msg"]
    assert writes(emulator_env) == []


# -- what CreateImage would refuse ------------------------------------------------------------------------------------


def test_running_instance_fails_but_warns_in_check_mode(emulator_env, capsys):
    failed = run(capsys, instance_id=RUNNING_HKG, name="web")
    assert failed["failed"] is True
    assert "shut down" in failed["msg"] and "zenlayer_instance_power" in failed["msg"]
    assert "image_from_instance" in failed["msg"]
    predicted = run(capsys, instance_id=RUNNING_HKG, name="web", check_mode=True)
    assert predicted["changed"] is True and not predicted.get("failed")
    assert any("shut down" in str(warning) for warning in predicted["warnings"])
    assert writes(emulator_env) == []


def test_instance_not_found(emulator_env, capsys):
    result = run(capsys, instance_id="ins-nope", name="web", check_mode=True)
    assert result["failed"] is True and "ins-nope was not found" in result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_unsupported_zone(emulator_env, capsys, check_mode):
    stop(emulator_env, "ins-sin-app-0001")
    result = run(capsys, instance_id="ins-sin-app-0001", name="web", check_mode=check_mode)
    assert result["failed"] is True and "SIN-E" in result["msg"] and "does not support" in result["msg"]
    assert writes(emulator_env) == []


def test_zone_not_known_to_lack_support_trusts_the_api(emulator_env, capsys):
    emulator_env.patch(zones={"HKG-A": {"supportImage": False}})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["failed"] is True and "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT" in result["msg"]
    assert len(emulator_env.requests("CreateImage")) == 1


def test_full_quota_lists_the_images_of_the_zone(emulator_env, capsys):
    emulator_env.patch(image_quota=2, images={"img-a": {"imageName": "a", "zoneId": "HKG-A"},
                                              "img-b": {"imageName": "b", "zoneId": "HKG-A"}})
    for check_mode in (True, False):
        result = run(capsys, instance_id=STOPPED_HKG, name="web", check_mode=check_mode)
        assert result["failed"] is True and "2 of 2" in result["msg"]
        assert "img-a" in result["msg"] and "img-b" in result["msg"]
    assert writes(emulator_env) == []


def test_zone_mismatch_fails(emulator_env, capsys):
    result = run(capsys, instance_id=STOPPED_HKG, zone_id="FRA-A", name="web")
    assert result["failed"] is True and "HKG-A" in result["msg"] and "FRA-A" in result["msg"]
    assert writes(emulator_env) == []


def test_imaging_instance_names_the_image_being_made(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 600})  # still IMAGING when the second run looks, however loaded the machine
    first = run(capsys, instance_id=STOPPED_HKG, name="first", wait=False)
    assert first["changed"] is True and first["image"]["image_status"] == "CREATING"
    second = run(capsys, instance_id=STOPPED_HKG, name="second")
    assert second["failed"] is True and first["image"]["image_id"] in second["msg"] and "IMAGING" in second["msg"]
    assert len(emulator_env.requests("CreateImage")) == 1


# -- lost answers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lose_response", "lose_response_5xx"])
def test_lost_create_answer_makes_exactly_one_image(emulator_env, capsys, kind):
    emulator_env.add_faults({"action": "CreateImage", "kind": kind})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["changed"] is True and result["image"]["image_status"] == "AVAILABLE"
    images = emulator_env.images(name="web")
    assert len(images) == 1 and images[0]["imageId"] == result["image"]["image_id"]
    assert len(emulator_env.requests("CreateImage")) == 1


@pytest.mark.emulator(time_scale=0.005)
def test_dropped_create_is_not_sent_again_and_the_run_says_the_outcome_is_unknown(emulator_env, capsys):
    """A dropped connection proves nothing (the API may have taken it): the image is looked for until the wait's
    deadline (wait_timeout, the default 1800 s on a scaled clock), never sent twice, and a re-run makes it."""
    emulator_env.add_faults({"action": "CreateImage", "kind": "drop"})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["failed"] is True and result["changed"] is True
    assert "outcome is unknown" in result["msg"] and "not sent again" in result["msg"] and "Re-run" in result["msg"]
    assert len(emulator_env.requests("CreateImage")) == 1 and emulator_env.images(name="web") == []
    rerun = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert rerun["changed"] is True and rerun["image"]["image_status"] == "AVAILABLE"
    assert len(emulator_env.images(name="web")) == 1 and len(emulator_env.requests("CreateImage")) == 2


def test_disk_making_image_adopts_our_creating_image(emulator_env, capsys):
    """The image appears between the look-up and CreateImage (a parallel run): adopt it, make no second one."""
    def parallel_run():
        done_at = time.time() + 0.6  # the parallel run's image is done a moment later
        emulator_env.patch(images={"img-parallel": {"imageName": "web", "zoneId": "HKG-A", "imageStatus": "CREATING",
                                                    "pending": {"to": "AVAILABLE", "at": done_at}}},
                           instances={STOPPED_HKG: {"instanceStatus": "IMAGING", "pending": {"to": "STOPPED", "at": done_at}}})

    with on_request("CreateImage", parallel_run):
        result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["changed"] is False and result["image"]["image_id"] == "img-parallel"
    assert result["image"]["image_status"] == "AVAILABLE"
    assert [r["code"] for r in emulator_env.requests("CreateImage")] == ["UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE"]
    assert len(emulator_env.images(name="web")) == 1


# -- waiting --------------------------------------------------------------------------------------------------------


def finish_soon(emu: Any, image_id: str) -> None:
    """The image, made CREATING for an emulator hour (a run on a loaded machine still sees it so), is done half a real
    second from now."""
    emu.finish_images([image_id], at=time.time() + 0.5)


def test_wait_timeout_then_a_rerun_resumes_the_wait(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 3600})
    timed_out = run(capsys, instance_id=STOPPED_HKG, name="web", wait_timeout=1)
    assert timed_out["changed"] is True, "the image was made: a failure after the write reports it"
    assert timed_out["failed"] is True
    image_id = emulator_env.images(name="web")[0]["imageId"]
    assert image_id in timed_out["msg"] and "CREATING" in timed_out["msg"] and "re-run" in timed_out["msg"]
    finish_soon(emulator_env, image_id)
    resumed = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert resumed["changed"] is False and resumed["image"]["image_status"] == "AVAILABLE"
    assert resumed["image"]["image_id"] == image_id
    assert len(emulator_env.requests("CreateImage")) == 1


def test_unavailable_fails_at_once_and_on_rerun(emulator_env, capsys):
    failed = run(capsys, instance_id=BROKEN_FRA, name="broken")
    assert failed["failed"] is True and "UNAVAILABLE" in failed["msg"] and "state=absent" in failed["msg"]
    assert failed["changed"] is True, "CreateImage made an image, even a failed one: the run reports it"
    image_id = emulator_env.images(name="broken")[0]["imageId"]
    assert image_id in failed["msg"]
    again = run(capsys, instance_id=BROKEN_FRA, name="broken")
    assert again["failed"] is True and image_id in again["msg"]
    assert len(emulator_env.requests("CreateImage")) == 1


def test_absent_waits_for_a_creating_image_then_deletes_it(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 3600})
    made = run(capsys, instance_id=STOPPED_HKG, name="web", wait=False)
    refused = run(capsys, zone_id="HKG-A", name="web", state="absent", wait=False)
    assert refused["failed"] is True and "CREATING" in refused["msg"]
    finish_soon(emulator_env, made["image"]["image_id"])
    deleted = run(capsys, zone_id="HKG-A", name="web", state="absent")
    assert deleted["changed"] is True and deleted["image"]["image_id"] == made["image"]["image_id"]
    assert emulator_env.images(name="web") == []


# -- state=absent by id ---------------------------------------------------------------------------------------------


def test_absent_by_image_id_searches_every_zone(emulator_env, capsys):
    emulator_env.patch(images={"img-fra": {"imageName": "x", "zoneId": "FRA-A"}})
    deleted = run(capsys, image_id="img-fra", state="absent")
    assert deleted["changed"] is True and deleted["image"]["zone_id"] == "FRA-A"
    assert run(capsys, image_id="img-fra", state="absent")["changed"] is False


def test_public_images_are_never_deleted(emulator_env, capsys):
    result = run(capsys, image_id="img-ubuntu-2204", state="absent", zone_id="HKG-A")
    assert result["failed"] is True and "public" in result["msg"]
    assert writes(emulator_env) == []


# -- input and auth -------------------------------------------------------------------------------------------------


@pytest.mark.boundary  # argument spec checks are ansible-core's
@pytest.mark.parametrize("args, expected", [
    ({"instance_id": STOPPED_HKG, "name": "a" * 25}, "1 to 24 characters"),
    ({"instance_id": STOPPED_HKG, "name": "web image"}, "letters, digits"),
    ({"instance_id": STOPPED_HKG, "name": ""}, "1 to 24 characters"),
    ({"instance_id": STOPPED_HKG, "name": "web", "description": "d" * 256}, "at most 255"),
    ({"instance_id": STOPPED_HKG, "name": "web", "wait_timeout": 0}, "wait_timeout must be"),
    ({"instance_id": STOPPED_HKG, "name": "web\n"}, "letters, digits"),
    ({"instance_id": STOPPED_HKG}, "state is present but all of the following are missing: name"),
    ({"name": "web"}, "state is present but any of the following are missing: instance_id, zone_id"),
    ({"name": "web", "image_id": "img-1", "zone_id": "HKG-A"}, "mutually exclusive: name|image_id"),
    ({"state": "absent"}, "state is absent but any of the following are missing: image_id, name"),
    ({"state": "absent", "name": "web"}, "name needs zone_id or instance_id"),
    ({"state": "absent", "name": "web", "image_id": "img-1"}, "mutually exclusive: name|image_id"),
])
def test_input_is_checked_before_any_request(emulator_env, capsys, args, expected):
    result = run(capsys, **args)
    assert result["failed"] is True and expected in result["msg"]
    assert emulator_env.requests() == []


@pytest.mark.boundary  # aliases are ansible-core's
def test_chinese_name_and_aliases(emulator_env, capsys):
    result = run(capsys, instance_id=STOPPED_HKG, image_name="镜像_web-1", image_description="中文")
    assert result["changed"] is True and result["image"]["image_name"] == "镜像_web-1"
    assert result["image"]["image_description"] == "中文"


def test_bearer_token(emulator_env, capsys, monkeypatch):
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_ID")
    monkeypatch.delenv("ZENLAYERCLOUD_ACCESS_KEY_PASSWORD")
    result = run(capsys, instance_id=STOPPED_HKG, name="web", access_token=emulator_env.credentials.token)
    assert result["changed"] is True
    assert {r["auth"] for r in emulator_env.requests()} == {"bearer"}
    assert emulator_env.credentials.token not in json.dumps(result)


# -- what 0.1.0 got wrong (issue 11) --------------------------------------------------------------------------------


@pytest.mark.parametrize("disk_status", ["DELETING", "RECYCLING", "CREATING"])
def test_a_system_disk_that_cannot_be_imaged_is_refused_before_the_create(emulator_env, capsys, disk_status):
    emulator_env.patch(instances={STOPPED_HKG: {"systemDiskStatus": disk_status}})
    for check_mode in (True, False):
        result = run(capsys, instance_id=STOPPED_HKG, name="web", check_mode=check_mode)
        assert result["failed"] is True and disk_status in result["msg"] and "system disk" in result["msg"]
    assert emulator_env.requests("CreateImage") == []


def test_an_image_whose_instance_is_gone_is_found_when_the_zone_is_known(emulator_env, capsys):
    made = run(capsys, instance_id=STOPPED_HKG, name="web")
    emulator_env.patch(delete_instances=[STOPPED_HKG])
    found = run(capsys, instance_id=STOPPED_HKG, zone_id="HKG-A", name="web")
    assert not found.get("failed") and found["changed"] is False
    assert found["image"]["image_id"] == made["image"]["image_id"]
    without_zone = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert without_zone["failed"] is True and "give zone_id too" in without_zone["msg"]


def test_a_rerun_waits_for_an_image_whose_instance_is_gone(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 3600})
    made = run(capsys, instance_id=STOPPED_HKG, name="web", wait=False)
    emulator_env.patch(delete_instances=[STOPPED_HKG])
    image_id = made["image"]["image_id"]
    looks_before = len(emulator_env.requests("DescribeImages"))
    # the image is done once the re-run has seen it CREATING: it must wait, whatever the load
    with on_request("DescribeImages", lambda: emulator_env.patch(images={image_id: {"imageStatus": "AVAILABLE"}}),
                    when="after"):
        waited = run(capsys, instance_id=STOPPED_HKG, zone_id="HKG-A", name="web")
    assert not waited.get("failed") and waited["image"]["image_status"] == "AVAILABLE"
    assert waited["image"]["image_id"] == image_id and waited["changed"] is False
    assert len(emulator_env.requests("DescribeImages")) - looks_before >= 2, "the re-run did not look again"


def test_an_instance_deleted_during_our_own_wait_is_noticed_at_once(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 10000})
    # deleted while the module waits: after its second look at the image (the first poll), before the next one
    with on_request("DescribeImages", lambda: emulator_env.patch(delete_instances=[STOPPED_HKG]), nth=2, when="after"):
        result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["failed"] is True and "disappeared while image" in result["msg"] and result["changed"] is True


def test_a_twin_made_by_a_parallel_job_is_reported_with_both_ids(emulator_env, capsys):
    # a parallel job's image of the same name appears while our CreateImage is answered
    twin = {"img-twin": {"imageName": "web", "zoneId": "HKG-A", "imageStatus": "CREATING"}}
    with on_request("CreateImage", lambda: emulator_env.patch(images=twin), when="after"):
        result = run(capsys, instance_id=STOPPED_HKG, name="web", wait=False)
    assert result["failed"] is True and result["changed"] is True
    assert "img-twin" in result["msg"] and sorted(result["image_ids"])[0] != sorted(result["image_ids"])[1]


# -- a key that may not read disks (issue 19, item 8; issue 20) -----------------------------------------------------


def test_a_key_denied_describe_disks_makes_the_image_with_one_warning(emulator_env, capsys):
    emu = emulator_env
    emu.patch(denied_actions={emu.credentials.access_key_id: ["DescribeDisks"]}, async_lag=1)
    for check_mode in (True, False):
        result = run(capsys, instance_id=STOPPED_HKG, name="web", check_mode=check_mode)
        assert not result.get("failed"), result
        assert result["changed"] is True and result["image"]["image_status"] == "AVAILABLE"
        assert len(result["warnings"]) == 1, "one warning"
        assert "may not read disks" in str(result["warnings"][0]) and STOPPED_HKG in str(result["warnings"][0])
    assert [image["imageName"] for image in emu.images(zone_id="HKG-A")] == ["web"]
    assert [entry["code"] for entry in emu.requests("DescribeDisks")] == ["OPERATION_DENIED_ACTION_PERMISSION"] * 2


def test_without_the_disk_check_the_apis_own_refusal_is_the_answer(emulator_env, capsys):
    emu = emulator_env
    emu.patch(denied_actions={emu.credentials.access_key_id: ["DescribeDisks"]},
              instances={STOPPED_HKG: {"systemDiskStatus": "CREATING"}})
    result = run(capsys, instance_id=STOPPED_HKG, name="web")
    assert result["failed"] is True and "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE" in result["msg"]
    assert len(result["warnings"]) == 1 and emu.images(zone_id="HKG-A") == []
