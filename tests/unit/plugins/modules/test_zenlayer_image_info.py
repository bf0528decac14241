# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_image_info run in-process against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._image import shape_image
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image_info
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module


def run(capsys: Any, **args: Any) -> dict:
    return run_module(zenlayer_image_info.main, capsys, args)


@pytest.fixture
def images(emulator_env):
    emulator_env.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A", "imageSize": "40"},
                               "img-web-old": {"imageName": "web-old", "zoneId": "HKG-A"},
                               "img-web-fra": {"imageName": "web", "zoneId": "FRA-A", "imageStatus": "CREATING"}})
    return emulator_env


def ids(result):
    return sorted(image["image_id"] for image in result["images"])


def test_exact_name_in_every_zone(images, capsys):
    result = run(capsys, name="web")
    assert result["changed"] is False and ids(result) == ["img-web", "img-web-fra"]
    zones = {image["image_id"]: image["zone_id"] for image in result["images"]}
    assert zones == {"img-web": "HKG-A", "img-web-fra": "FRA-A"}
    assert images.requests("DescribeZones")


def test_filters_of_one_zone(images, capsys):
    assert ids(run(capsys, zone_id="HKG-A", image_type="CUSTOM_IMAGE")) == ["img-web", "img-web-old"]
    assert ids(run(capsys, image_status="CREATING")) == ["img-web-fra"]
    assert ids(run(capsys, zone_id="HKG-A", image_ids=["img-web-old"])) == ["img-web-old"]
    assert run(capsys, zone_id="HKG-A", name="nothing")["images"] == []


def test_public_images_are_listed_once(images, capsys):
    public = run(capsys, image_type="PUBLIC_IMAGE")["images"]
    assert sorted(i["image_id"] for i in public) == ["img-centos-79", "img-ubuntu-2204"]
    assert {i["zone_id"] for i in public} == {None}


def test_same_shape_as_zenlayer_image(images, capsys):
    result = run(capsys, zone_id="HKG-A", name="web")
    raw = [i for i in images.state()["images"] if i["imageId"] == "img-web"][0]
    assert result["images"] == [shape_image(raw, "HKG-A")]
    assert result["images"][0]["image_size"] == 40


def test_unknown_zone_fails_clearly(images, capsys):
    result = run(capsys, zone_id="NOPE-1")
    assert result["failed"] is True and "INVALID_ZONE_NOT_FOUND" in result["msg"]
