# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zenlayer_image_line run in-process against the emulator: what it makes, what it deletes, what it never touches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils import _image_line, _wait
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image_line
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module, writes

STOPPED_HKG = "ins-hkg-db-0001"
RUNNING_HKG = "ins-hkg-web-0001"
STOPPED_FRA = "ins-fra-app-0001"
NIGHT = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
# Names of the zone that are not members of the line web-, whatever they look like.
STRANGERS = {"img-golden": "web-golden", "img-2026": "web-2026", "img-13digits": "web-2026113002001",
             "img-no-minute": "web-202613450000", "img-other-line": "web-old-202601010000",
             "img-noprefix": "202601010000"}


def run(capsys: Any, check_mode: bool = False, **args: Any) -> dict:
    args.setdefault("instance_id", STOPPED_HKG)
    args.setdefault("prefix", "web-")
    return run_module(zenlayer_image_line.main, capsys, args, check_mode=check_mode, diff=True)


def at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def line_names(emu: Any, zone_id: str = "HKG-A", prefix: str = "web-") -> list[str]:
    names = [image["imageName"] for image in emu.images(zone_id=zone_id)]
    return sorted((name for name in names if _image_line.name_stamp(prefix, name)), reverse=True)


def seed_line(emu: Any, *stamps: str, zone_id: str = "HKG-A", status: str = "AVAILABLE") -> None:
    images = {"img-%s-%s" % (zone_id, stamp): {"imageName": "web-" + stamp, "zoneId": zone_id, "imageStatus": status}
              for stamp in stamps}
    emu.patch(images=images)


def seed_strangers(emu: Any) -> None:
    emu.patch(images={image_id: {"imageName": name, "zoneId": "HKG-A"} for image_id, name in STRANGERS.items()})


# -- the nightly job ---------------------------------------------------------------------------------------------


def test_eight_nights_with_keep_3_leave_the_newest_3_and_nothing_else_touched(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=20)
    seed_strangers(emu)
    made = []
    for night in range(8):
        result = run(capsys, keep=3, now=at(NIGHT + timedelta(days=night)))
        assert not result.get("failed"), result
        made.append(result["image"]["image_name"])
        assert result["image"]["image_status"] == "AVAILABLE" and result["changed"] is True
    assert made[0] == "web-202611300200" and made[-1] == "web-202612070200"
    assert line_names(emu) == made[:-4:-1]
    assert {image["imageId"]: image["imageName"] for image in emu.images(zone_id="HKG-A")
            if image["imageName"] in STRANGERS.values()} == STRANGERS
    assert result["deleted_image_ids"] and result["diff"]["after"]["images"] == made[:-4:-1]


def test_a_line_image_younger_than_max_age_makes_the_run_a_no_op(emulator_env, capsys):
    seed_line(emulator_env, "202611300200", "202611290200")
    emulator_env.clear_requests()
    result = run(capsys, keep=1, max_age="20h", now=at(NIGHT + timedelta(hours=3)))
    assert result["changed"] is False and result["fresh"] is True
    assert result["image"]["image_name"] == "web-202611300200" and result["deleted_image_ids"] == []
    assert writes(emulator_env) == []
    assert [entry["action"] for entry in emulator_env.requests()] == ["DescribeInstances", "DescribeImages"]


def test_max_age_counts_only_available_images(emulator_env, capsys):
    seed_line(emulator_env, "202611300100", status="UNAVAILABLE")
    result = run(capsys, max_age="20h", now=at(NIGHT))
    assert result["fresh"] is False and result["changed"] is True
    assert result["image"]["image_name"] == "web-202611300200"


def test_the_clock_is_the_controllers_in_utc_and_replaceable(emulator_env, capsys, monkeypatch):
    class Tomorrow(type(_wait.SYSTEM_CLOCK)):  # the scaled test clock, at a fixed time of day
        def utcnow(self) -> datetime:
            return NIGHT + timedelta(days=1, seconds=59)

    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", Tomorrow())
    assert run(capsys)["image"]["image_name"] == "web-202612010200"
    offset = run(capsys, now="2026-12-01T07:30:00+05:30")  # 02:00 UTC: the image of that minute exists
    assert offset["changed"] is False and offset["image"]["image_name"] == "web-202612010200"


# -- make_room ---------------------------------------------------------------------------------------------------


def test_make_room_on_a_full_quota_deletes_the_oldest_of_the_line_first(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=4, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}})
    seed_line(emu, "202611270200", "202611280200", "202611290200")
    refused = run(capsys, now=at(NIGHT))
    assert refused["failed"] is True and "make_room=true would delete the line's oldest: img-HKG-A-202611270200" \
        in refused["msg"] and writes(emu) == []
    result = run(capsys, make_room=True, now=at(NIGHT))
    assert not result.get("failed") and result["deleted_image_ids"] == ["img-HKG-A-202611270200"]
    assert line_names(emu) == ["web-202611300200", "web-202611290200", "web-202611280200"]
    assert [entry["action"] for entry in writes(emu)] == ["DeleteImages", "CreateImage"]


def test_make_room_never_empties_the_line_nor_deletes_before_the_preflight(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=2, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}})
    seed_line(emu, "202611290200")
    alone = run(capsys, make_room=True, now=at(NIGHT))
    assert alone["failed"] is True and "the newest AVAILABLE image of the line stays" in alone["msg"]
    seed_line(emu, "202611280200")
    emu.patch(image_quota=3, instances={STOPPED_HKG: {"instanceStatus": "RUNNING"}})
    running = run(capsys, make_room=True, now=at(NIGHT))
    assert running["failed"] is True and "must be shut down" in running["msg"]
    assert writes(emu) == [] and len(line_names(emu)) == 2


def test_creating_and_public_images_are_never_deleted(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=10, images={
        "img-public": {"imageName": "web-202601010000", "imageType": "PUBLIC_IMAGE", "zoneId": None},
        "img-creating": {"imageName": "web-202611280200", "zoneId": "HKG-A", "imageStatus": "CREATING",
                         "pending": {"to": "AVAILABLE", "at": 4102444800}}})
    seed_line(emu, "202611270200", "202611290200")
    result = run(capsys, keep=1, now=at(NIGHT))
    assert sorted(result["deleted_image_ids"]) == ["img-HKG-A-202611270200", "img-HKG-A-202611290200"]
    left = {image["imageId"] for image in emu.images()}
    assert {"img-public", "img-creating"} <= left
    assert [image["image_name"] for image in result["images"]] == ["web-202611300200", "web-202611280200"]


def test_a_line_spread_over_two_zones_is_kept_per_zone(emulator_env, capsys):
    emu = emulator_env
    seed_line(emu, "202611270200", "202611280200", zone_id="HKG-A")
    seed_line(emu, "202611250200", "202611260200", zone_id="FRA-A")
    hkg = run(capsys, keep=1, now=at(NIGHT))
    assert line_names(emu, "HKG-A") == ["web-202611300200"]
    assert line_names(emu, "FRA-A") == ["web-202611260200", "web-202611250200"]
    assert sorted(hkg["deleted_image_ids"]) == ["img-HKG-A-202611270200", "img-HKG-A-202611280200"]
    emu.patch(instances={STOPPED_FRA: {"instanceStatus": "STOPPED"}})
    fra = run(capsys, instance_id=STOPPED_FRA, keep=2, now=at(NIGHT))
    assert fra["image"]["zone_id"] == "FRA-A" and fra["deleted_image_ids"] == ["img-FRA-A-202611250200"]
    assert line_names(emu, "FRA-A") == ["web-202611300200", "web-202611260200"]
    assert line_names(emu, "HKG-A") == ["web-202611300200"]


# -- check mode and refusals -------------------------------------------------------------------------------------


def test_check_mode_predicts_every_deletion_with_no_write(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=20)
    seed_strangers(emu)
    seed_line(emu, "202611260200", "202611270200", "202611280200", "202611290200")
    predicted = run(capsys, check_mode=True, keep=2, now=at(NIGHT))
    assert writes(emu) == [] and predicted["changed"] is True
    assert predicted["image"]["image_id"] is None and predicted["image"]["image_name"] == "web-202611300200"
    assert predicted["diff"]["after"]["images"] == ["web-202611300200", "web-202611290200"]
    real = run(capsys, keep=2, now=at(NIGHT))
    assert real["deleted_image_ids"] == predicted["deleted_image_ids"] == [
        "img-HKG-A-202611280200", "img-HKG-A-202611270200", "img-HKG-A-202611260200"]


@pytest.mark.parametrize("args, words", [
    ({"prefix": "web"}, "ending with '-' or '_'"),
    ({"prefix": "a-very-long-prefix-"}, "1 to 12 characters"),
    ({"prefix": "web golden-"}, "prefix must be"),
    ({"prefix": "-"}, None),
    ({"keep": 0}, "keep must be 1 or more"),
    ({"max_age": "20"}, "max_age must be a duration"),
    ({"max_age": "0h"}, "max_age must be a duration"),
    ({"now": "2026-11-30T02:00:00"}, "UTC offset"),
    ({"description": "x" * 256}, "at most 255"),
])
def test_bad_input_is_refused_before_any_request(emulator_env, capsys, args, words):
    result = run(capsys, **args)
    if words is None:
        assert not result.get("failed"), "a prefix of one separator is a valid line"
        return
    assert result["failed"] is True and words in result["msg"]
    assert emulator_env.requests() == []


def test_line_names_parse_strictly():
    assert _image_line.name_stamp("web-", "web-202611300538") == datetime(2026, 11, 30, 5, 38, tzinfo=timezone.utc)
    for name in list(STRANGERS.values()) + ["web-20261130053８", "WEB-202611300538", "web-202611300538\n"]:
        assert _image_line.name_stamp("web-", name) is None, name
    assert len(_image_line.line_name("a" * 11 + "-", NIGHT)) == 24
