# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check mode predicts the real run: every decision cell of every module runs twice on one emulator, first with
--check (which must send no write), then for real, and both must report the same `changed`, the same failure (and
message), the same result and the same diff.

The only difference allowed is the documented one: zenlayer_image in check mode warns, instead of failing, about an
instance that is not shut down yet (a play's earlier task usually stops it). That cell is asserted as it is documented.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Iterator

import pytest

from ansible_collections.zenlayer.cloud.plugins.modules import (
    zenlayer_image,
    zenlayer_image_info,
    zenlayer_image_line,
    zenlayer_instance_info,
    zenlayer_instance_power,
)
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import on_request, run_module, writes

pytestmark = pytest.mark.boundary  # check mode and diff as ansible-core passes them to the modules

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"
# Where each transitional status is heading. A cell's transitional status is held (due in an hour) until the module
# looks a second time (ends_at_the_second_look): its first look always sees it moving, however slowly a run starts.
SETTLES_TO = {"STOPPING": "STOPPED", "BOOTING": "RUNNING", "REBOOT": "RUNNING", "IMAGING": "STOPPED"}
HELD_SECONDS = 3600.0
INSTANCE_READS = ("DescribeInstances", "DescribeInstancesStatus")
# Known only once the API has made the image: a new image's prediction leaves them out (documented).
MADE_BY_THE_API = ("image_id", "category", "os_type", "image_version")


def put_instance(emu: Any, instance_id: str, status: str) -> None:
    """The instance in `status`; a transitional status moves on by itself shortly (an IMAGING one with its image)."""
    fields: dict[str, Any] = {"instanceStatus": status}
    if status in SETTLES_TO:
        fields["pending"] = {"to": SETTLES_TO[status], "at": time.time() + HELD_SECONDS}
    images = {}
    if status == "IMAGING":
        images["img-being-made"] = {"imageName": "being-made", "zoneId": "HKG-A", "imageStatus": "CREATING",
                                    "pending": {"to": "AVAILABLE", "at": time.time() + HELD_SECONDS}}
    emu.patch(instances={instance_id: fields}, images=images)


def _settle_held(emu: Any, kind: str) -> None:
    """The held transitions of instances or images (never those of the module's own writes) end now."""
    now, key = time.time(), {"instances": "instanceId", "images": "imageId"}[kind]
    held = {item[key]: {"pending": dict(item["pending"], at=now)} for item in emu.state()[kind]
            if item.get("pending") and item["pending"]["at"] > now + HELD_SECONDS / 2}
    if held:
        emu.patch(**{kind: held})


@contextlib.contextmanager
def ends_at_the_second_look(emu: Any) -> Iterator[None]:
    """A held instance status ends just before the module's second look at instances, a held image status before
    its second look at images: while the module waits, at its first poll."""
    with on_request(INSTANCE_READS, lambda: _settle_held(emu, "instances"), nth=2, required=False), \
            on_request("DescribeImages", lambda: _settle_held(emu, "images"), nth=2, required=False):
        yield


def comparable(result: dict) -> dict:
    """What a user reads from a result, less what only the API can know of an image that does not exist yet."""
    kept = {key: result.get(key) for key in ("changed", "failed", "msg", "image", "images", "instances", "diff")}
    if isinstance(kept["image"], dict) and kept["image"].get("image_id") is None:
        kept["image"] = {key: value for key, value in kept["image"].items() if key not in MADE_BY_THE_API}
    return kept


def check_then_real(emu: Any, capsys: Any, main: Callable[[], None], args: dict,
                    arrange: Callable[[Any], None] = lambda _emu: None) -> tuple[dict, dict]:
    """Both runs start from the same world: `arrange` sets it up again before the real run (check mode sends no
    write, but time moves on while it waits the way a real run waits). Without wait, what the real run's writes set
    moving stays moving until the run has read it (an hour of the emulator's time), however slowly the run goes."""
    def prepare() -> None:
        arrange(emu)
        if args.get("wait") is False:
            emu.patch(timings={"stop_seconds": 3600, "start_seconds": 3600, "image_seconds": 3600})

    prepare()
    with ends_at_the_second_look(emu):
        predicted = run_module(main, capsys, args, check_mode=True, diff=True)
    assert writes(emu) == [], "check mode sent a write"
    prepare()
    with ends_at_the_second_look(emu):
        real = run_module(main, capsys, args, diff=True)
    if isinstance(real.get("image"), dict) and predicted.get("image") and predicted["image"].get("image_id") is None:
        real = dict(real, image={key: value for key, value in real["image"].items() if key not in MADE_BY_THE_API})
    return predicted, real


# -- zenlayer_instance_power: every (state, current status, wait) --------------------------------------------------

POWER_STATES = ("running", "stopped", "restarted")
POWER_STATUSES = ("RUNNING", "STOPPED", "STOPPING", "BOOTING", "REBOOT", "IMAGING", "RECYCLE")


@pytest.mark.parametrize("wait", [True, False], ids=["wait", "nowait"])
@pytest.mark.parametrize("status", POWER_STATUSES)
@pytest.mark.parametrize("state", POWER_STATES)
def test_power_check_mode_is_the_real_run(emulator_env, capsys, state, status, wait):
    args = {"instance_ids": [RUNNING_ID], "state": state, "wait": wait, "wait_timeout": 120}
    predicted, real = check_then_real(emulator_env, capsys, zenlayer_instance_power.main, args,
                                      lambda emu: put_instance(emu, RUNNING_ID, status))
    assert comparable(predicted) == comparable(real)
    sent = [entry["action"] for entry in writes(emulator_env)]
    assert bool(sent) == real["changed"], "changed must say whether a write was sent"


def test_power_restart_uses_reboot_in_both_modes(emulator_env, capsys):
    args = {"instance_ids": [RUNNING_ID, STOPPED_ID], "state": "restarted", "wait": False}
    predicted, real = check_then_real(emulator_env, capsys, zenlayer_instance_power.main, args)
    assert comparable(predicted) == comparable(real)
    assert {item["instance_id"]: item["instance_status"] for item in real["instances"]} == {
        RUNNING_ID: "REBOOT", STOPPED_ID: "BOOTING"}
    assert sorted(entry["action"] for entry in writes(emulator_env)) == ["RebootInstances", "StartInstances"]


# -- zenlayer_image --------------------------------------------------------------------------------------------------


def _with_image(status: str, description: str | None = "old") -> Callable[[Any], None]:
    def arrange(emu: Any) -> None:
        image = {"imageName": "web", "zoneId": "HKG-A", "imageStatus": status, "imageDescription": description}
        if status == "CREATING":
            image["pending"] = {"to": "AVAILABLE", "at": time.time() + HELD_SECONDS}
        emu.patch(images={"img-web": image})
    return arrange


def _full_quota(emu: Any) -> None:
    emu.patch(image_quota=1, images={"img-other": {"imageName": "other", "zoneId": "HKG-A"}})


def _no_quota(emu: Any) -> None:
    emu.patch(image_quota=0)


def _duplicates(emu: Any) -> None:
    emu.patch(images={"img-dup-1": {"imageName": "web", "zoneId": "HKG-A"},
                      "img-dup-2": {"imageName": "web", "zoneId": "HKG-A"}})


def _imaging(emu: Any) -> None:
    put_instance(emu, STOPPED_ID, "IMAGING")


def _sin_e_stopped(emu: Any) -> None:
    emu.patch(instances={"ins-sin-app-0001": {"instanceStatus": "STOPPED"}})


def _nothing(_emu: Any) -> None:
    return None


CREATE = {"instance_id": STOPPED_ID, "name": "web"}
IMAGE_CELLS = {
    "create, wait": (_nothing, dict(CREATE, description="first")),
    "create, no wait": (_nothing, dict(CREATE, wait=False)),
    "exists available, same description": (_with_image("AVAILABLE"), dict(CREATE, description="old")),
    "exists available, new description": (_with_image("AVAILABLE"), dict(CREATE, description="new")),
    "exists available, description not given": (_with_image("AVAILABLE"), CREATE),
    "exists available, by zone": (_with_image("AVAILABLE"), {"zone_id": "HKG-A", "name": "web"}),
    "exists creating, wait": (_with_image("CREATING"), CREATE),
    "exists creating, no wait": (_with_image("CREATING"), dict(CREATE, wait=False)),
    "exists creating, no wait, new description": (_with_image("CREATING"), dict(CREATE, wait=False, description="x")),
    "exists unavailable": (_with_image("UNAVAILABLE"), CREATE),
    "duplicate names": (_duplicates, CREATE),
    "quota full": (_full_quota, CREATE),
    "quota of zero": (_no_quota, CREATE),
    "zone without images": (_sin_e_stopped, {"instance_id": "ins-sin-app-0001", "name": "web"}),
    "instance imaging": (_imaging, CREATE),
    "instance not found": (_nothing, {"instance_id": "ins-nope", "name": "web"}),
    "zone mismatch": (_nothing, dict(CREATE, zone_id="FRA-A")),
    "not there, zone only": (_nothing, {"zone_id": "HKG-A", "name": "web"}),
    "absent, exists": (_with_image("AVAILABLE"), {"zone_id": "HKG-A", "name": "web", "state": "absent"}),
    "absent, by id anywhere": (_with_image("AVAILABLE"), {"image_id": "img-web", "state": "absent"}),
    "absent, not there": (_nothing, {"zone_id": "HKG-A", "name": "web", "state": "absent"}),
    "absent, creating, wait": (_with_image("CREATING"), {"zone_id": "HKG-A", "name": "web", "state": "absent"}),
    "absent, creating, no wait": (_with_image("CREATING"),
                                  {"zone_id": "HKG-A", "name": "web", "state": "absent", "wait": False}),
    "absent, public image": (_nothing, {"image_id": "img-ubuntu-2204", "zone_id": "HKG-A", "state": "absent"}),
}


@pytest.mark.parametrize("cell", list(IMAGE_CELLS))
def test_image_check_mode_is_the_real_run(emulator_env, capsys, cell):
    arrange, args = IMAGE_CELLS[cell]
    predicted, real = check_then_real(emulator_env, capsys, zenlayer_image.main, args, arrange)
    assert comparable(predicted) == comparable(real)


def test_image_check_mode_on_a_running_instance_warns_where_the_real_run_fails(emulator_env, capsys):
    """The documented exception: check mode cannot see the shutdown an earlier task of the play would make."""
    predicted, real = check_then_real(emulator_env, capsys, zenlayer_image.main, {"instance_id": RUNNING_ID, "name": "web"})
    assert real["failed"] is True and "must be shut down (STOPPED)" in real["msg"]
    assert predicted["changed"] is True and not predicted.get("failed")
    assert any("shut down" in str(warning) for warning in predicted.get("warnings") or [])
    quiet = run_module(zenlayer_image.main, capsys, {"instance_id": RUNNING_ID, "name": "web", "assume_stopped": True},
                       check_mode=True, diff=True)
    assert quiet["changed"] is True and not quiet.get("warnings"), "assume_stopped is the pre-flight's own question"


# -- zenlayer_image_line: fresh or not, keep, make_room, strangers ---------------------------------------------------

NIGHT = "2026-11-30T02:00:00Z"


def _line(*stamps: str, quota: int = 10, status: str = "AVAILABLE") -> Callable[[Any], None]:
    def arrange(emu: Any) -> None:
        images = {"img-web-%s" % stamp: {"imageName": "web-" + stamp, "zoneId": "HKG-A", "imageStatus": status}
                  for stamp in stamps}
        images["img-golden"] = {"imageName": "web-golden", "zoneId": "HKG-A"}
        emu.patch(image_quota=quota, images=images)
    return arrange


def line_comparable(result: dict) -> dict:
    """A line run as a user reads it; a new image's id and what only the API knows of it left out."""
    kept = comparable(result)
    kept["images"] = [(image["image_name"], image["image_status"]) for image in result.get("images") or []]
    kept.update(fresh=result.get("fresh"), deleted_image_ids=result.get("deleted_image_ids"))
    return kept


def _line_creating(emu: Any) -> None:
    _line("202611280200")(emu)
    emu.patch(images={"img-web-202611290200": {"imageName": "web-202611290200", "zoneId": "HKG-A",
                                               "imageStatus": "CREATING",
                                               "pending": {"to": "AVAILABLE", "at": time.time() + HELD_SECONDS}}})


LINE = {"instance_id": STOPPED_ID, "prefix": "web-", "now": NIGHT}
LINE_CELLS = {
    "empty line": (_nothing, LINE),
    "keep 2 of 4": (_line("202611270200", "202611280200", "202611290200"), dict(LINE, keep=2)),
    "keep more than there are": (_line("202611290200"), dict(LINE, keep=5)),
    "fresh": (_line("202611300100", "202611290200"), dict(LINE, max_age="20h", keep=1)),
    "stale": (_line("202611290100"), dict(LINE, max_age="20h", keep=1)),
    "only unavailable, max_age": (_line("202611300100", status="UNAVAILABLE"), dict(LINE, max_age="20h")),
    "same minute": (_line("202611300200"), dict(LINE, keep=1)),
    "an earlier run's image still creating": (_line_creating, dict(LINE, keep=1)),
    "quota full": (_line("202611280200", "202611290200", quota=3), LINE),
    "quota full, make_room": (_line("202611280200", "202611290200", quota=3), dict(LINE, make_room=True, keep=2)),
    "quota full, make_room, one image": (_line("202611290200", quota=2), dict(LINE, make_room=True)),
    "zone without images": (_sin_e_stopped, dict(LINE, instance_id="ins-sin-app-0001")),
    "instance imaging": (_imaging, dict(LINE, keep=1)),
    "instance not found": (_nothing, dict(LINE, instance_id="ins-nope")),
}


@pytest.mark.parametrize("cell", list(LINE_CELLS))
def test_image_line_check_mode_is_the_real_run(emulator_env, capsys, cell):
    arrange, args = LINE_CELLS[cell]
    predicted, real = check_then_real(emulator_env, capsys, zenlayer_image_line.main, args, arrange)
    assert line_comparable(predicted) == line_comparable(real)
    assert bool(writes(emulator_env)) == real["changed"], "changed must say whether a write was sent"


# -- the info modules: read-only, so both modes must agree to the letter ---------------------------------------------

INFO_CELLS = {
    "images of a zone": (zenlayer_image_info.main, {"zone_id": "HKG-A"}),
    "images by name": (zenlayer_image_info.main, {"name": "web"}),
    "images, empty id list": (zenlayer_image_info.main, {"image_ids": []}),
    "instances by status": (zenlayer_instance_info.main, {"status": "RUNNING"}),
    "instances, empty id list": (zenlayer_instance_info.main, {"instance_ids": []}),
}


@pytest.mark.parametrize("cell", list(INFO_CELLS))
def test_info_check_mode_is_the_real_run(emulator_env, capsys, cell):
    _with_image("AVAILABLE")(emulator_env)
    main, args = INFO_CELLS[cell]
    predicted, real = check_then_real(emulator_env, capsys, main, args)
    assert comparable(predicted) == comparable(real) and real["changed"] is False
