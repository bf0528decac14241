# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every write the collection sends x every way its answer can go wrong x writes that take effect at once or late
(asynchronous acceptance): the real module runs in-process against the emulator, and each cell must end with the
write done exactly once (never a duplicate image, never an instance left down), `changed: true`, and no secret in
the result. A restart whose answer was lost and which was never seen happening is the one write not sent again: that
cell must fail saying so, and never restart the instance twice.

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
ASYNC_LAG = 2.0  # seconds of the emulator's (scaled) time: well inside the modules' 10 s look after a lost answer

FAULTS = {
    "performed, answer lost": {"kind": "performed_drop"},
    "performed, answered 502": {"kind": "performed_error", "status": 502, "code": "INTERNAL_SERVER_ERROR"},
    "performed, answered 408 REQUEST_TIMED_OUT": {"kind": "performed_error", "status": 408, "code": "REQUEST_TIMED_OUT"},
    "not performed, answered 503": {"kind": "error", "status": 503, "code": "SERVICE_TEMPORARY_UNAVAILABLE"},
    "throttled": {"kind": "throttle"},
}


def _image(emu: Any, name: str) -> list[dict]:
    return [image for image in emu.images(name=name) if image.get("imageName") == name]


def _rebooted_once(emu: Any, instance_id: str) -> str | None:
    """None when the instance went through REBOOT exactly once and is RUNNING again."""
    reboots = [event for event in emu.events() if event["id"] == instance_id and event["to"] == "REBOOT"]
    status = emu.instance(instance_id)["instanceStatus"]
    return None if len(reboots) == 1 and status == "RUNNING" else "rebooted %d time(s), now %s" % (len(reboots), status)


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
                        lambda emu: None, lambda emu: _rebooted_once(emu, RUNNING_ID)),
    "DeleteImages": (zenlayer_image.main, {"zone_id": "HKG-A", "name": "web", "state": "absent"}, _arrange_image,
                     lambda emu: None if not _image(emu, "web") else "image still there"),
    "ModifyImagesAttributes": (zenlayer_image.main, {"zone_id": "HKG-A", "name": "web", "description": "new"},
                               _arrange_image,
                               lambda emu: None if _image(emu, "web")[0]["imageDescription"] == "new" else "not updated"),
    "ModifyResourceTags": (zenlayer_instance_power_record.main, {"instance_id": RUNNING_ID, "owner": "job-1"},
                           lambda emu: None,
                           lambda emu: None if RECORD_TAG_KEY in emu.tags(RUNNING_ID) else "no record"),
}
# Sending these twice does harm (a second image, a second restart): the emulator must show exactly one done.
ONCE_ONLY = ("CreateImage", "RebootInstances")


def _performed(emu: Any, action: str) -> int:
    return sum(1 for entry in emu.requests(action) if entry["performed"])


def _expect_failure(write: str, fault: str) -> bool:
    """A restart never seen happening after its answer was lost is not sent again: a truthful failure."""
    return write == "RebootInstances" and fault == "not performed, answered 503"


@pytest.mark.parametrize("mode", ["immediate", "async"])
@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("write", list(WRITES))
def test_write_under_fault(emulator_factory, capsys, monkeypatch, write: str, fault: str, mode: str) -> None:
    main, args, arrange, world_ok = WRITES[write]
    extra = ["--async-lag", str(ASYNC_LAG)] if mode == "async" else []
    emu = emulator_factory(seed=secret_seed(), extra_args=extra)
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
            assert emu.instance(RUNNING_ID)["instanceStatus"] == "RUNNING"
            assert not [event for event in emu.events() if event["to"] == "REBOOT"], "a restart the API refused happened"
            return
        assert not result.get("failed"), result.get("msg")
        assert world_ok(emu) is None, world_ok(emu)
