# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every write the collection sends x every way its answer can go wrong x writes that take effect at once, 2 s or 12 s
late (asynchronous acceptance; 12 s is longer than any fixed grace a module could wait): the real module runs
in-process against the emulator on its defaults (its clock scaled like the emulator's time), and each cell must end
with the write done exactly once (never a duplicate image, never a second stop, start or restart), `changed: true`,
and no secret in the result - or, when the write's outcome stays unknown (a 5xx for a write that was not done), with
an honest failure saying it was not sent again. Writes that set a value (tags, attributes, a delete) may be repeated
by the client: a repeat changes nothing.

Each cell is also a scenario of docs/reliability.md (scripts/reliability.py)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY
from ansible_collections.zenlayer.cloud.plugins.modules import (
    zenlayer_image,
    zenlayer_instance_power,
    zenlayer_instance_power_record,
)
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "integration"))
from ansible_run import Scenario, secret_seed  # noqa: E402  pylint: disable=wrong-import-position,import-error

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"
LAGS = (0, 2, 12)  # seconds of the emulator's (scaled) time between a write's answer and its effect
# The modules' defaults (wait_timeout 1800 s for an image, 600 s for power) on a fast clock: an unknown outcome is
# looked for until that deadline, 18 s and 6 s of real time here.
pytestmark = pytest.mark.emulator(time_scale=0.01)

FAULTS = {
    "performed, answer lost": {"kind": "performed_drop"},
    "performed, answered 502": {"kind": "performed_error", "status": 502, "code": "INTERNAL_SERVER_ERROR"},
    "performed, answered 408 REQUEST_TIMED_OUT": {"kind": "performed_error", "status": 408, "code": "REQUEST_TIMED_OUT"},
    "not performed, answered 503": {"kind": "error", "status": 503, "code": "SERVICE_TEMPORARY_UNAVAILABLE"},
    "throttled": {"kind": "throttle"},
}


def _image(emu: Any, name: str) -> list[dict]:
    return [image for image in emu.images(name=name) if image.get("imageName") == name]


def _rebooted_once(emu: Any) -> str | None:
    reboots = [event for event in emu.events() if event["id"] == RUNNING_ID and event["to"] == "REBOOT"]
    status = emu.instance(RUNNING_ID)["instanceStatus"]
    return None if len(reboots) == 1 and status == "RUNNING" else "%d restarts, now %s" % (len(reboots), status)


def _arrange_image(emu: Any) -> None:
    emu.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A", "imageDescription": "old"}})


# write: (module main, arguments, arrange, check the world once it settled: (emu, emulator-state) -> problem or None)
WRITES: dict[str, tuple[Callable[[], None], dict, Callable[[Any], None], Callable[[Any], str | None]]] = {
    "CreateImage": (zenlayer_image.main, {"instance_id": STOPPED_ID, "name": "made"}, lambda emu: None,
                    lambda emu: None if [i["imageStatus"] for i in _image(emu, "made")] == ["AVAILABLE"]
                    else "images named made: %s" % _image(emu, "made")),
    "StopInstances": (zenlayer_instance_power.main, {"instance_ids": [RUNNING_ID], "state": "stopped"}, lambda emu: None,
                      lambda emu: None if emu.instance(RUNNING_ID)["instanceStatus"] == "STOPPED" else "not stopped"),
    "StartInstances": (zenlayer_instance_power.main, {"instance_ids": [STOPPED_ID], "state": "running"}, lambda emu: None,
                       lambda emu: None if emu.instance(STOPPED_ID)["instanceStatus"] == "RUNNING" else "not running"),
    "RebootInstances": (zenlayer_instance_power.main, {"instance_ids": [RUNNING_ID], "state": "restarted"},
                        lambda emu: None, _rebooted_once),
    "DeleteImages": (zenlayer_image.main, {"zone_id": "HKG-A", "name": "web", "state": "absent"}, _arrange_image,
                     lambda emu: None if not _image(emu, "web") else "image still there"),
    "ModifyImagesAttributes": (zenlayer_image.main, {"zone_id": "HKG-A", "name": "web", "description": "new"},
                               _arrange_image,
                               lambda emu: None if _image(emu, "web")[0]["imageDescription"] == "new" else "not updated"),
    "ModifyResourceTags": (zenlayer_instance_power_record.main, {"instance_id": RUNNING_ID, "owner": "job-1"},
                           lambda emu: None,
                           lambda emu: None if RECORD_TAG_KEY in emu.tags(RUNNING_ID) else "no record"),
}
# Never sent twice (a second image, a second restart; a second stop or start after one whose outcome is unknown):
# the emulator must show at most one done.
ONCE_ONLY = ("CreateImage", "RebootInstances", "StopInstances", "StartInstances")


def _performed(emu: Any, action: str) -> int:
    return sum(1 for entry in emu.requests(action) if entry["performed"])


def _expect_failure(write: str, fault: str) -> bool:
    """A write of ONCE_ONLY that was not done but answered with a 5xx: its outcome is unknown, it is looked for until
    the deadline and never sent again - a truthful failure."""
    return write in ONCE_ONLY and fault == "not performed, answered 503"


@pytest.mark.parametrize("lag", LAGS, ids=["lag%ds" % lag for lag in LAGS])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("write", list(WRITES))
def test_write_under_fault(emulator_factory, capsys, monkeypatch, write: str, fault: str, lag: int) -> None:
    main, args, arrange, world_ok = WRITES[write]
    mode = "lag %d s" % lag
    emu = emulator_factory(seed=secret_seed(), time_scale=0.01, extra_args=["--async-lag", str(lag)])
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    arrange(emu)
    emu.settle(30)
    emu.add_faults(dict(FAULTS[fault], action=write, times=1))
    with Scenario("write faults", "%s: %s (%s)" % (write, fault, mode), main.__module__.split(".")[-1],
                  fault=json.dumps(FAULTS[fault]), expect="done once, changed, power as asked") as sc:
        result = run_module(main, capsys, args)
        emu.settle(30)
        assert [rule["fired"] for rule in emu.faults()] == [1], "the fault must have hit the write"
        sc.outcome = ("FAILED: %s" % result.get("msg")) if result.get("failed") else "ok, changed=%s" % result["changed"]
        sc.scan(result, emu.requests())
        sc.check_images(emu.state())
        assert result["changed"] is True, "a write that was (or may have been) done reports changed"
        if write in ONCE_ONLY:
            expected = 0 if _expect_failure(write, fault) else 1
            assert _performed(emu, write) == expected, "done %d time(s), expected %d: %s" % (
                _performed(emu, write), expected, emu.requests(write))
        if _expect_failure(write, fault):
            assert result["failed"] is True and "not sent again" in result["msg"], result
            assert _performed(emu, write) == 0
            return
        if write == "RebootInstances" and result.get("failed"):
            # a restart may end between two looks: then the run cannot know it happened, and says so truthfully
            assert "not sent again" in result["msg"] and world_ok(emu) is None, (result["msg"], world_ok(emu))
            return
        assert not result.get("failed"), result.get("msg")
        assert world_ok(emu) is None, world_ok(emu)
