"""A key denied an action (`denied_actions`), and a quota that counts only the deletes already applied."""
from __future__ import annotations

import pytest

from emu_helpers import STOPPED_HKG, error, ok
from harness import EmulatorError, load_seed

KEY = "AKIDEMULATOR00000001"
LAG = ["--async-lag", "60"]  # x time scale 0.05 = 3 s: seen not in effect yet between two calls, even on a loaded machine


def _quota(emu, zone: str = "HKG-A") -> tuple[int, int]:
    entry = ok(emu, "DescribeImageQuota", {"zoneIds": [zone]})["images"][0]
    return entry["count"], entry["maxCount"]


def test_a_key_denied_describe_disks_gets_403_and_everything_else_works(emu) -> None:
    emu.patch(denied_actions={KEY: ["DescribeDisks"]})
    assert error(emu, "DescribeDisks", {"instanceId": STOPPED_HKG}) == (403, "OPERATION_DENIED_ACTION_PERMISSION")
    assert ok(emu, "DescribeInstances", {"instanceIds": [STOPPED_HKG]})["totalCount"] == 1
    assert emu.call("DescribeDisks", {"instanceId": STOPPED_HKG}, auth="bearer").status == 200  # only that key
    assert emu.state()["denied_actions"] == {KEY: ["DescribeDisks"]}
    emu.patch(denied_actions={})
    assert ok(emu, "DescribeDisks", {"instanceId": STOPPED_HKG})["totalCount"] == 1


def test_a_denied_write_is_refused_before_it_is_accepted(make_emu) -> None:
    emu = make_emu(dict(load_seed("default"), denied_actions={KEY: ["CreateImage"]}))
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "x"}) == (
        403, "OPERATION_DENIED_ACTION_PERMISSION")
    assert emu.accepted() == [] and emu.images(zone_id="HKG-A") == []


@pytest.mark.parametrize("bad", [["DescribeDisks"], {KEY: "DescribeDisks"}, {KEY: ["NoSuchAction"]}])
def test_a_malformed_denial_is_refused(emu, bad) -> None:
    with pytest.raises(EmulatorError, match="denied_actions"):
        emu.patch(denied_actions=bad)


def test_the_quota_counts_a_deleted_image_until_the_delete_takes_effect(make_emu) -> None:
    emu = make_emu(extra_args=LAG)
    emu.patch(image_quota=2, images={"img-a": {"imageName": "a", "zoneId": "HKG-A"},
                                     "img-b": {"imageName": "b", "zoneId": "HKG-A"}})
    ok(emu, "DeleteImages", {"imageIds": ["img-a"]})
    assert _quota(emu) == (2, 2)  # accepted, not applied: the room does not show yet
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "c"}) == (400, "LIMIT_EXCEEDED_IMAGE_QUOTA")
    emu.wait_for(lambda: _quota(emu) == (1, 2), timeout=15)
    assert [image["imageId"] for image in emu.images(zone_id="HKG-A")] == ["img-b"]
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "c"})
