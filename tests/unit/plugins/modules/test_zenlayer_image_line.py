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
    scaled = _wait.SYSTEM_CLOCK

    class Tomorrow(type(scaled)):  # the scaled test clock, at a fixed time of day
        def utcnow(self) -> datetime:
            return NIGHT + timedelta(days=1, seconds=59)

    monkeypatch.delenv("ZENLAYERCLOUD_EMULATOR_CLOCK")  # else the module takes the emulator's clock, not SYSTEM_CLOCK
    monkeypatch.setattr(_wait, "SYSTEM_CLOCK", Tomorrow(scaled.epoch, scaled.scale))
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


# -- issue 20: order from the stamps, room proven before CreateImage, every result says what was deleted -------------
# Every test below runs with writes, deletes included, taking effect late (the emulator's async_lag).

LATE = 2  # seconds (x the time scale) between accepting a write and its effect


def ids_of(emu: Any, *stamps: str, zone_id: str = "HKG-A") -> list[str]:
    by_name = {image["imageName"]: image["imageId"] for image in emu.images(zone_id=zone_id)}
    return [by_name["web-" + stamp] for stamp in stamps]


@pytest.mark.parametrize("keep, deleted, left", [
    (1, ["202612040200"], ["202612050200", "202612030200"]),
    (2, [], ["202612050200", "202612040200", "202612030200"]),
    (3, [], ["202612050200", "202612040200", "202612030200"]),
])
def test_keep_never_deletes_the_image_this_run_made_when_now_is_older_than_the_line(
        emulator_env, capsys, keep, deleted, left):
    emu = emulator_env
    seed_line(emu, "202612040200", "202612050200")
    emu.set_async_lag(LATE)
    old_ids = ids_of(emu, *deleted)
    now = at(datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc))  # a pinned now, or a controller's slow clock
    predicted = run(capsys, check_mode=True, keep=keep, now=now)
    result = run(capsys, keep=keep, now=now)
    assert not result.get("failed"), result
    assert result["image"]["image_name"] == "web-202612030200" and result["image"]["image_status"] == "AVAILABLE"
    assert result["deleted_image_ids"] == predicted["deleted_image_ids"] == old_ids
    assert result["diff"]["after"]["images"] == predicted["diff"]["after"]["images"] == ["web-" + s for s in left]
    emu.settle()
    assert line_names(emu) == ["web-" + stamp for stamp in left]
    assert result["image"]["image_id"] in {image["imageId"] for image in emu.images(zone_id="HKG-A")}
    warned = [str(warning) for warning in result.get("warnings", []) if "keep does not delete it" in str(warning)]
    assert len(warned) == (1 if keep < 3 else 0), "says so when keep spares the image it made"


def test_eight_late_nights_make_room_only_once_the_quota_shows_it(emulator_env, capsys):
    emu = emulator_env
    emu.patch(images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"},  # a quota of 5 holds 2 others
                      "img-base": {"imageName": "base", "zoneId": "HKG-A"}})
    emu.set_async_lag(LATE)
    nightly = {"keep": 3, "make_room": True, "max_age": "20h"}
    made, deleted = [], []
    for night in range(8):
        result = run(capsys, now=at(NIGHT + timedelta(days=night)), **nightly)
        assert not result.get("failed"), (night, result)
        assert result["image"]["image_status"] == "AVAILABLE" and len(result["images"]) == min(night + 1, 3)
        made.append(result["image"]["image_id"])
        deleted += result["deleted_image_ids"]
    assert deleted == made[:5], "from night 4 on, each night made room by deleting the line's oldest"
    emu.settle()
    assert line_names(emu) == ["web-202612070200", "web-202612060200", "web-202612050200"]
    assert {"img-golden", "img-base"} <= {image["imageId"] for image in emu.images(zone_id="HKG-A")}
    deletes_applied = sorted((effect["accepted_at"], effect["at"]) for effect in emu.state()["effects"]
                             if effect["action"] == "DeleteImages")
    creates = emu.requests("CreateImage")
    assert len(creates) == 8 and all(entry["http_status"] == 200 for entry in creates) and len(deletes_applied) == 5
    assert all(creates[3 + night]["ts"] >= deletes_applied[night][1] for night in range(5)), \
        "each CreateImage of nights 4-8 was sent only after that night's delete took effect"

    emu.clear_requests()
    rerun = run(capsys, now=at(NIGHT + timedelta(days=7, hours=3)), **nightly)
    assert rerun["fresh"] is True and rerun["changed"] is False and writes(emu) == []
    assert rerun["image"]["image_id"] == made[-1] and rerun["deleted_image_ids"] == []

    ninth = at(NIGHT + timedelta(days=8))
    predicted = run(capsys, check_mode=True, now=ninth, **nightly)
    assert writes(emu) == [] and predicted["changed"] is True
    real = run(capsys, now=ninth, **nightly)
    assert not real.get("failed"), real
    assert real["deleted_image_ids"] == predicted["deleted_image_ids"] == [made[5]]
    assert real["diff"] == predicted["diff"]


def test_make_room_with_a_disk_that_cannot_be_imaged_deletes_nothing(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=3, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}},
              instances={STOPPED_HKG: {"systemDiskStatus": "CREATING"}})
    seed_line(emu, "202611280200", "202611290200")
    emu.set_async_lag(LATE)
    for check_mode in (True, False):
        result = run(capsys, check_mode=check_mode, make_room=True, keep=1, now=at(NIGHT))
        assert result["failed"] is True and "system disk" in result["msg"] and "CREATING" in result["msg"]
        assert result["deleted_image_ids"] == [] and result["changed"] is False
        assert result["diff"]["after"] == result["diff"]["before"] == {"images": ["web-202611290200", "web-202611280200"]}
    assert writes(emu) == [] and emu.accepted() == []
    assert line_names(emu) == ["web-202611290200", "web-202611280200"]


@pytest.mark.emulator(time_scale=0.002)  # wait_timeout's default 1800 s in 3.6 s
def test_make_room_fails_naming_what_it_deleted_when_the_room_never_shows(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=3, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}})
    seed_line(emu, "202611280200", "202611290200")
    oldest = ids_of(emu, "202611280200")[0]
    emu.set_async_lag(10 ** 6)  # the delete is accepted but does not take effect within wait_timeout
    result = run(capsys, make_room=True, now=at(NIGHT))
    assert result["failed"] is True and result["changed"] is True
    assert "CreateImage was not sent" in result["msg"] and "wait_timeout=1800" in result["msg"]
    assert oldest in result["msg"] and result["deleted_image_ids"] == [oldest]
    assert result["diff"] == {"before": {"images": ["web-202611290200", "web-202611280200"]},
                              "after": {"images": ["web-202611290200"]}}
    assert [entry["action"] for entry in writes(emu)] == ["DeleteImages"]
    assert len(emu.requests("DescribeImageQuota")) > 2, "the quota was read again until wait_timeout"


def test_a_create_refused_after_make_room_reports_the_images_deleted(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=3, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}})
    seed_line(emu, "202611280200", "202611290200")
    oldest = ids_of(emu, "202611280200")[0]
    emu.set_async_lag(LATE)
    emu.add_faults({"action": "CreateImage", "kind": "error", "status": 400, "code": "LIMIT_EXCEEDED_IMAGE_QUOTA",
                    "message": "The zone 'HKG-A' already holds 3 of 3 custom images (another job took the room)."})
    result = run(capsys, make_room=True, keep=2, now=at(NIGHT))
    assert result["failed"] is True and result["changed"] is True and "LIMIT_EXCEEDED_IMAGE_QUOTA" in result["msg"]
    assert oldest in result["msg"] and "deleted these images" in result["msg"]
    assert result["deleted_image_ids"] == [oldest]
    assert [image["image_id"] for image in result["images"]] == ids_of(emu, "202611290200")
    assert result["diff"]["after"] == {"images": ["web-202611290200"]}


def test_a_key_denied_describe_disks_still_makes_room_and_the_image(emulator_env, capsys):
    emu = emulator_env
    emu.patch(image_quota=3, images={"img-golden": {"imageName": "web-golden", "zoneId": "HKG-A"}},
              denied_actions={emu.credentials.access_key_id: ["DescribeDisks"]})
    seed_line(emu, "202611280200", "202611290200")
    oldest = ids_of(emu, "202611280200")
    emu.set_async_lag(LATE)
    result = run(capsys, make_room=True, now=at(NIGHT))
    assert not result.get("failed"), result
    assert result["deleted_image_ids"] == oldest
    assert len(result["warnings"]) == 1 and "may not read disks" in str(result["warnings"][0])
    emu.settle()
    assert line_names(emu) == ["web-202611300200", "web-202611290200"]
