# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image look-ups (against the emulator), input rules, the wait schedule and shape_image."""

from __future__ import annotations

import itertools

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._api import ZenlayerClient
from ansible_collections.zenlayer.cloud.plugins.module_utils._image import (
    creating_images,
    custom_images_named,
    description_problem,
    find_image_anywhere,
    get_image,
    image_quota,
    name_problem,
    quota_is_full,
    shape_image,
    zone_supports_images,
)
from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import IMAGE_WAIT

RAW = {"imageId": "img-1", "imageName": "web", "imageType": "CUSTOM_IMAGE", "imageSize": "40",
       "imageDescription": None, "imageVersion": "1", "imageStatus": "AVAILABLE", "category": "Ubuntu", "osType": "linux"}


def client_for(emulator):
    return ZenlayerClient(domain=emulator.domain, scheme="http", access_key_id=emulator.credentials.access_key_id,
                          access_key_password=emulator.credentials.access_key_password)


def test_shape_image():
    assert shape_image(RAW, "HKG-A") == {
        "image_id": "img-1", "image_name": "web", "image_type": "CUSTOM_IMAGE", "image_size": 40,
        "image_description": None, "image_version": "1", "image_status": "AVAILABLE", "category": "Ubuntu",
        "os_type": "linux", "zone_id": "HKG-A"}
    assert shape_image(RAW, "HKG-A", "ins-1")["instance_id"] == "ins-1"
    assert shape_image(dict(RAW, imageType="PUBLIC_IMAGE"), "HKG-A")["zone_id"] is None
    assert shape_image(dict(RAW, imageSize="n/a"))["image_size"] == "n/a"
    assert shape_image({"imageId": None, "imageName": "x"})["image_status"] is None


@pytest.mark.parametrize("name", ["a", "web-1_x", "a" * 24, "镜像", "WEB2"])
def test_valid_names(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["", "a" * 25, "web image", "web.1", "web/1", "é"])
def test_invalid_names(name):
    assert "1 to 24 characters of letters, digits, Chinese characters, '-' and '_'" in name_problem(name)


def test_description_limit():
    assert description_problem(None) is None and description_problem("d" * 255) is None
    assert description_problem("d" * 256) == "description must be at most 255 characters, not 256"


def test_wait_schedule_is_short_first_and_capped():
    intervals = list(itertools.islice(IMAGE_WAIT.intervals(), 20))
    assert intervals[0] <= 2 and max(intervals) == IMAGE_WAIT.cap <= 15
    assert intervals == sorted(intervals)


@pytest.mark.parametrize("name", ["db-golden\n", "db-golden\r\n", "\ndb"])
def test_a_name_with_a_line_break_is_refused(name):
    assert name_problem(name) is not None


def test_creating_images(emulator):
    emulator.patch(timings={"image_seconds": 10000})
    assert emulator.call("CreateImage", {"instanceId": "ins-hkg-db-0001", "imageName": "db-img"}).status == 200
    client = ZenlayerClient(domain=emulator.domain, scheme="http", access_key_id=emulator.credentials.access_key_id,
                            access_key_password=emulator.credentials.access_key_password, retries=0)
    assert [image["imageName"] for image in creating_images(client, "HKG-A")] == ["db-img"]
    assert creating_images(client, "FRA-A") == []


def test_zone_support_known_and_unknown():
    assert not zone_supports_images("SIN-E") and not zone_supports_images("LAX-A")
    assert zone_supports_images("HKG-A") and zone_supports_images("NEW-ZONE")


def test_quota_is_full():
    assert quota_is_full({"count": 5, "maxCount": 5}) and not quota_is_full({"count": 4, "maxCount": 5})
    assert not quota_is_full(None) and not quota_is_full({"count": None})


def test_exact_name_among_custom_images(emulator):
    emulator.patch(images={"img-web-old": {"imageName": "web-old", "zoneId": "HKG-A"},
                           "img-web": {"imageName": "web", "zoneId": "HKG-A"},
                           "img-web-fra": {"imageName": "web", "zoneId": "FRA-A"},
                           "img-pub": {"imageName": "web", "imageType": "PUBLIC_IMAGE"}})
    client = client_for(emulator)
    assert [i["imageId"] for i in custom_images_named(client, "HKG-A", "web")] == ["img-web"]
    assert custom_images_named(client, "HKG-A", "we") == []
    body = emulator.requests("DescribeImages")[0]["body"]
    assert body == {"zoneId": "HKG-A", "imageName": "web", "imageType": "CUSTOM_IMAGE", "pageNum": 1, "pageSize": 1000}


def test_exact_name_over_many_pages(emulator):
    emulator.patch(images={"img-%04d" % n: {"imageName": "web-%d" % n, "zoneId": "HKG-A"} for n in range(1100)})
    emulator.patch(images={"img-last": {"imageName": "web", "zoneId": "HKG-A"}})
    client = client_for(emulator)
    assert [i["imageId"] for i in custom_images_named(client, "HKG-A", "web")] == ["img-last"]
    assert [r["body"]["pageNum"] for r in emulator.requests("DescribeImages")] == [1, 2]


def test_get_image_quota_and_search_every_zone(emulator):
    emulator.patch(images={"img-fra": {"imageName": "x", "zoneId": "FRA-A"}})
    client = client_for(emulator)
    assert get_image(client, "FRA-A", "img-fra")["imageName"] == "x"
    assert get_image(client, "HKG-A", "img-fra") is None
    image, zone = find_image_anywhere(client, "img-fra")
    assert image["imageId"] == "img-fra" and zone == "FRA-A"
    assert find_image_anywhere(client, "img-none") == (None, None)
    assert image_quota(client, "FRA-A") == {"zoneId": "FRA-A", "count": 1, "maxCount": 5}
