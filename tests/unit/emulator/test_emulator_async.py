"""Asynchronous acceptance: a write is validated and answered at once, its effect becomes visible after the lag."""
from __future__ import annotations

import pytest

from emu_helpers import RUNNING_HKG, SEEN, STOPPED_HKG, error, image_status, ok, status_of
from harness import EmulatorError, load_seed

# x time scale 0.05 = 3 s: a write not in effect yet is seen so between two calls, even on a loaded machine
LAG_SECONDS = 3.0
LAG = ["--async-lag", "60"]


def _images_named(emu, name: str, zone: str = "HKG-A") -> list[dict]:
    found = ok(emu, "DescribeImages", {"zoneId": zone, "imageName": name})["dataSet"]
    return [image for image in found if image["imageName"] == name]


def test_lag_zero_is_immediate(emu) -> None:
    emu.patch(timings=SEEN)
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    assert status_of(emu, RUNNING_HKG) == "STOPPING"
    assert emu.state()["accepted"] == [] and emu.state()["async_lag"] == 0


def test_stop_is_accepted_then_happens(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    assert emu.state()["async_lag"] == 60
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG], "forceShutdown": False})
    assert status_of(emu, RUNNING_HKG) == "RUNNING"
    accepted = emu.accepted()
    assert [(a["action"], a["plan"]["instanceIds"]) for a in accepted] == [("StopInstances", [RUNNING_HKG])]
    assert abs(accepted[0]["at"] - accepted[0]["accepted_at"] - LAG_SECONDS) < 1e-6
    assert emu.requests("StopInstances")[-1]["performed"] is True
    emu.wait_for(lambda: status_of(emu, RUNNING_HKG) == "STOPPED", timeout=15)
    move = next(e for e in emu.events() if e["id"] == RUNNING_HKG and e["to"] == "STOPPING")
    assert move["ts"] == accepted[0]["at"]
    assert emu.instance(RUNNING_HKG)["lastForceShutdown"] is False


def test_repeated_stop_is_accepted_again_and_the_second_effect_is_dropped(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    emu.patch(timings=SEEN)  # the second stop takes effect while the first's STOPPING lasts, however slow the second
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    assert len(emu.accepted()) == 2
    emu.settle(30)
    assert status_of(emu, RUNNING_HKG) == "STOPPED"
    effects = emu.state()["effects"]
    assert [bool(e["dropped"]) for e in effects] == [False, True]
    assert "STOPPING, not RUNNING" in effects[1]["dropped"][0]


def test_create_image_is_invisible_during_the_lag_and_a_resend_makes_a_duplicate(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    emu.patch(timings=SEEN)  # the second image takes effect while the first's IMAGING lasts, however slow the second
    first = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "lagged"})["imageId"]
    assert _images_named(emu, "lagged") == [] and status_of(emu, STOPPED_HKG) == "STOPPED"
    second = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "lagged"})["imageId"]
    assert first != second
    emu.settle(30)
    assert sorted(i["imageId"] for i in _images_named(emu, "lagged")) == sorted([first, second])
    assert image_status(emu, first) == image_status(emu, second) == "AVAILABLE"
    assert status_of(emu, STOPPED_HKG) == "STOPPED"
    moves = [(e["from"], e["to"]) for e in emu.events() if e["id"] == STOPPED_HKG]
    assert moves == [("STOPPED", "IMAGING"), ("IMAGING", "STOPPED")]


def test_an_accepted_image_fails_when_the_instance_was_started_first(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    ok(emu, "StartInstances", {"instanceIds": [STOPPED_HKG]})
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "too-late"})["imageId"]
    emu.settle()
    assert image_status(emu, image_id) == "UNAVAILABLE"
    assert status_of(emu, STOPPED_HKG) == "RUNNING"


def test_start_and_reboot_are_lagged(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    ok(emu, "StartInstances", {"instanceIds": [STOPPED_HKG]})
    ok(emu, "RebootInstances", {"instanceIds": [RUNNING_HKG]})
    assert status_of(emu, STOPPED_HKG) == "STOPPED" and status_of(emu, RUNNING_HKG) == "RUNNING"
    emu.wait_for(lambda: status_of(emu, STOPPED_HKG) != "STOPPED", timeout=15)
    emu.settle()
    assert {(e["id"], e["to"]) for e in emu.events()} >= {(STOPPED_HKG, "BOOTING"), (RUNNING_HKG, "REBOOT")}
    assert status_of(emu, STOPPED_HKG) == status_of(emu, RUNNING_HKG) == "RUNNING"


def test_delete_and_modify_images_are_lagged(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "old-name"})["imageId"]
    emu.settle()
    ok(emu, "ModifyImagesAttributes", {"imageIds": [image_id], "imageName": "new-name"})
    assert [i["imageId"] for i in _images_named(emu, "old-name")] == [image_id]
    emu.settle()
    assert [i["imageId"] for i in _images_named(emu, "new-name")] == [image_id]
    ok(emu, "DeleteImages", {"imageIds": [image_id]})
    ok(emu, "DeleteImages", {"imageIds": [image_id]})  # still visible: accepted again
    assert _images_named(emu, "new-name")
    emu.settle()
    assert _images_named(emu, "new-name") == []
    assert error(emu, "DeleteImages", {"imageIds": [image_id]}) == (404, "INVALID_IMAGE_NOT_FOUND")


def test_refusals_are_immediate_with_lag(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    assert error(emu, "StopInstances", {"instanceIds": [STOPPED_HKG]}) == (403, "OPERATION_DENIED_INSTANCE_NOT_RUNNING")
    assert error(emu, "CreateImage", {"instanceId": RUNNING_HKG, "imageName": "x"}) == (
        400, "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING")
    assert emu.accepted() == [] and emu.requests("StopInstances")[-1]["performed"] is False


def test_pending_effects_survive_a_restart(make_emu, tmp_path) -> None:
    emu = make_emu(extra_args=LAG, state_file=str(tmp_path / "world.json"))
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    emu.restart()
    assert [a["action"] for a in emu.accepted()] + [status_of(emu, RUNNING_HKG)] in (
        ["StopInstances", "RUNNING"], ["STOPPING"], ["STOPPED"])
    emu.wait_for(lambda: status_of(emu, RUNNING_HKG) == "STOPPED", timeout=15)


def test_lag_from_the_seed_and_from_a_patch(make_emu) -> None:
    default = load_seed("default")
    seed = dict(default, async_lag=60, timings=dict(default["timings"], **SEEN))
    emu = make_emu(seed)
    ok(emu, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    assert status_of(emu, RUNNING_HKG) == "RUNNING"
    emu.set_async_lag(0)
    ok(emu, "StartInstances", {"instanceIds": [STOPPED_HKG]})
    assert status_of(emu, STOPPED_HKG) == "BOOTING"
    overridden = make_emu(seed, extra_args=["--async-lag", "0"])
    ok(overridden, "StopInstances", {"instanceIds": [RUNNING_HKG]})
    assert status_of(overridden, RUNNING_HKG) == "STOPPING"


@pytest.mark.parametrize("bad", [-1, "2", True])
def test_bad_lag_is_refused(emu, bad) -> None:
    with pytest.raises(EmulatorError, match="async_lag"):
        emu.patch(async_lag=bad)
