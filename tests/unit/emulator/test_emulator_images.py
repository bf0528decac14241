"""Image actions: CreateImage state machine and errors, DescribeImages filters/pagination, quota, delete, modify."""
from __future__ import annotations

import pytest

from emu_helpers import RUNNING_HKG, RUNNING_SIN, SEEN, STOPPED_HKG, error, image_status, make_image, ok, status_of


def test_create_image_state_machine(emu) -> None:
    emu.patch(timings=SEEN)
    image_id = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "db-golden",
                                       "imageDescription": "nightly"})["imageId"]
    assert image_id.startswith("img-")
    assert status_of(emu, STOPPED_HKG) == "IMAGING"
    info = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": [image_id]})["dataSet"][0]
    assert info == {"imageId": image_id, "imageName": "db-golden", "imageType": "CUSTOM_IMAGE", "imageSize": "80",
                    "imageDescription": "nightly", "imageVersion": "1", "imageStatus": "CREATING",
                    "category": "CentOS", "osType": "linux"}
    emu.wait_for(lambda: image_status(emu, image_id) == "AVAILABLE", timeout=15)
    assert status_of(emu, STOPPED_HKG) == "STOPPED"
    internal = emu.images(name="db-golden")[0]
    assert internal["zoneId"] == "HKG-A" and internal["instanceId"] == STOPPED_HKG
    kinds = [(e["kind"], e["from"], e["to"]) for e in emu.events() if e["id"] in (image_id, STOPPED_HKG)]
    assert kinds == [("image", None, "CREATING"), ("instance", "STOPPED", "IMAGING"),
                     ("image", "CREATING", "AVAILABLE"), ("instance", "IMAGING", "STOPPED")]


def test_image_outcome_unavailable(emu) -> None:
    image_id = make_image(emu, "broken", instance_id="ins-fra-broken-0001", zone="FRA-A")
    assert image_status(emu, image_id, zone="FRA-A") == "UNAVAILABLE"


def test_create_image_errors_in_check_order(emu) -> None:
    assert error(emu, "CreateImage", {"instanceId": "ins-missing", "imageName": "x"}) == (404, "INVALID_INSTANCE_NOT_FOUND")
    # SIN-E has no image support even though the instance is running: zone is checked before state
    assert error(emu, "CreateImage", {"instanceId": RUNNING_SIN, "imageName": "x"}) == (
        400, "UNSUPPORTED_OPERATION_ZONE_NOT_SUPPORT")
    assert error(emu, "CreateImage", {"instanceId": RUNNING_HKG, "imageName": "x"}) == (
        400, "UNSUPPORTED_OPERATION_INSTANCE_STATE_STARTING")
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "first"})
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "second"}) == (
        400, "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE")
    assert error(emu, "StartInstances", {"instanceIds": [STOPPED_HKG]}) == (400, "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE")
    assert error(emu, "StopInstances", {"instanceIds": [STOPPED_HKG]}) == (400, "UNSUPPORTED_OPERATION_DISK_MAKING_IMAGE")


def test_disk_unavailable(emu) -> None:
    emu.patch(instances={STOPPED_HKG: {"systemDiskStatus": "ERROR"}})
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "x"}) == (
        400, "UNSUPPORTED_OPERATION_DISK_UNAVAILABLE")


@pytest.mark.parametrize("body, code", [
    ({"imageName": "x"}, "MISSING_PARAMETER"),
    ({"instanceId": STOPPED_HKG}, "MISSING_PARAMETER"),
    ({"instanceId": STOPPED_HKG, "imageName": ""}, "INVALID_PARAMETER_IMAGE_NAME"),
    ({"instanceId": STOPPED_HKG, "imageName": "a" * 25}, "INVALID_PARAMETER_IMAGE_NAME"),
    ({"instanceId": STOPPED_HKG, "imageName": "has space"}, "INVALID_PARAMETER_IMAGE_NAME"),
    ({"instanceId": STOPPED_HKG, "imageName": "db-golden\n"}, "INVALID_PARAMETER_IMAGE_NAME"),
    ({"instanceId": STOPPED_HKG, "imageName": "ok", "imageDescription": "d" * 256}, "INVALID_PARAMETER_IMAGE_DESCRIPTION"),
    ({"instanceId": STOPPED_HKG, "imageName": 7}, "INVALID_PARAMETER_TYPE"),
])
def test_create_image_parameters(emu, body: dict, code: str) -> None:
    assert error(emu, "CreateImage", body) == (400, code)


def test_image_name_accepts_chinese_and_24_chars(emu) -> None:
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "镜像-golden_1"})
    emu.patch(instances={STOPPED_HKG: {"instanceStatus": "STOPPED"}})
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "a" * 24})


def test_duplicate_names_are_allowed(emu) -> None:
    first = make_image(emu, "same")
    second = make_image(emu, "same")
    assert first != second
    assert len(emu.images(name="same")) == 2


def test_quota_counts_creating_and_delete_frees_it(emu) -> None:
    emu.patch(image_quota={"HKG-A": 2})
    first = make_image(emu, "q1")
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "q2"})  # still CREATING
    quota = ok(emu, "DescribeImageQuota", {"zoneIds": ["HKG-A"]})["images"]
    assert quota == [{"zoneId": "HKG-A", "count": 2, "maxCount": 2}]
    emu.wait_for(lambda: status_of(emu, STOPPED_HKG) == "STOPPED", timeout=5)
    assert error(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "q3"}) == (400, "LIMIT_EXCEEDED_IMAGE_QUOTA")
    ok(emu, "DeleteImages", {"imageIds": [first]})
    ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "q3"})


def test_describe_image_quota(emu) -> None:
    quota = {q["zoneId"]: q for q in ok(emu, "DescribeImageQuota")["images"]}
    assert set(quota) == {"HKG-A", "FRA-A", "SIN-E", "LAX-A"}
    assert quota["HKG-A"] == {"zoneId": "HKG-A", "count": 0, "maxCount": 5}
    assert error(emu, "DescribeImageQuota", {"zoneIds": ["MARS-1"]}) == (404, "INVALID_REGION_NOT_FOUND")


def test_describe_images_zone_rules_and_filters(emu) -> None:
    assert error(emu, "DescribeImages", {}) == (400, "MISSING_PARAMETER")
    assert error(emu, "DescribeImages", {"zoneId": "MARS-1"}) == (404, "INVALID_ZONE_NOT_FOUND")
    make_image(emu, "web-golden")
    make_image(emu, "web-golden-2")
    hkg = ok(emu, "DescribeImages", {"zoneId": "HKG-A"})
    assert hkg["totalCount"] == 4  # 2 public + 2 custom
    assert ok(emu, "DescribeImages", {"zoneId": "FRA-A"})["totalCount"] == 2  # public only
    by_name = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageName": "web-golden"})["dataSet"]
    assert sorted(i["imageName"] for i in by_name) == ["web-golden", "web-golden-2"]  # substring match
    assert ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageType": "CUSTOM_IMAGE"})["totalCount"] == 2
    assert ok(emu, "DescribeImages", {"zoneId": "HKG-A", "category": "CentOS"})["totalCount"] == 3
    assert ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageStatus": "CREATING"})["totalCount"] == 0
    public = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": ["img-centos-79"]})["dataSet"][0]
    assert public["imageDescription"] is None and "zoneId" not in public and "instanceId" not in public


def test_describe_images_pagination(emu) -> None:
    emu.patch(images={"img-custom-%02d" % n: {"zoneId": "HKG-A", "imageName": "bulk-%02d" % n} for n in range(25)})
    first = ok(emu, "DescribeImages", {"zoneId": "HKG-A"})
    assert first["totalCount"] == 27 and len(first["dataSet"]) == 20
    last = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "pageNum": 3, "pageSize": 10})
    assert len(last["dataSet"]) == 7
    assert error(emu, "DescribeImages", {"zoneId": "HKG-A", "pageSize": 1001}) == (400, "INVALID_PARAMETER_PAGE_SIZE")
    assert error(emu, "DescribeImages", {"zoneId": "HKG-A", "pageNum": 0}) == (400, "INVALID_PARAMETER_PAGE_NUM")
    assert len(ok(emu, "DescribeImages", {"zoneId": "HKG-A", "pageSize": 1000})["dataSet"]) == 27


def test_delete_and_modify_errors(emu) -> None:
    for action in ("DeleteImages", "ModifyImagesAttributes"):
        assert error(emu, action, {"imageIds": ["img-missing"], "imageName": "x"}) == (404, "INVALID_IMAGE_NOT_FOUND")
        assert error(emu, action, {"imageIds": ["img-ubuntu-2204"], "imageName": "x"}) == (400, "INVALID_IMAGE_STATUS")
        assert error(emu, action, {}) == (400, "MISSING_PARAMETER")
    emu.patch(timings={"image_seconds": 3600})  # CREATING for an emulator hour: a loaded machine still sees it so
    creating = ok(emu, "CreateImage", {"instanceId": STOPPED_HKG, "imageName": "busy"})["imageId"]
    assert error(emu, "DeleteImages", {"imageIds": [creating]}) == (400, "INVALID_IMAGE_STATUS")
    assert error(emu, "ModifyImagesAttributes", {"imageIds": [creating], "imageName": "x"}) == (400, "INVALID_IMAGE_STATUS")


def test_modify_then_delete(emu) -> None:
    image_id = make_image(emu, "before")
    ok(emu, "ModifyImagesAttributes", {"imageIds": [image_id], "imageName": "after", "imageDescription": "new"})
    info = ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": [image_id]})["dataSet"][0]
    assert (info["imageName"], info["imageDescription"]) == ("after", "new")
    assert error(emu, "ModifyImagesAttributes", {"imageIds": [image_id], "imageName": "bad name"}) == (
        400, "INVALID_PARAMETER_IMAGE_NAME")
    ok(emu, "DeleteImages", {"imageIds": [image_id]})
    assert ok(emu, "DescribeImages", {"zoneId": "HKG-A", "imageIds": [image_id]})["totalCount"] == 0


def test_unavailable_image_can_be_deleted(emu) -> None:
    image_id = make_image(emu, "gone")
    emu.patch(images={image_id: {"imageStatus": "UNAVAILABLE"}})
    ok(emu, "DeleteImages", {"imageIds": [image_id]})
