# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lease on a power record, as the modules that wait under it keep it (power_record_owner): renewed when less than
a third is left, given up when the task is cancelled, and never renewed over another job's take-over. The real
modules run in-process against the emulator, on a clock scaled like the emulator's time (defaults: lease 300 s)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY, decode_record
from ansible_collections.zenlayer.cloud.plugins.modules import (
    zenlayer_image,
    zenlayer_instance_power,
    zenlayer_instance_power_record,
)
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import run_module

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"


def record_on(emu: Any, instance_id: str) -> dict | None:
    return decode_record((emu.tags(instance_id) or {}).get(RECORD_TAG_KEY))


def claim(capsys: Any, instance_id: str, owner: str = "job-1", power: str = "running") -> dict:
    args = {"instance_id": instance_id, "owner": owner, "power": power}
    return run_module(zenlayer_instance_power_record.main, capsys, args)


def renewals(emu: Any, instance_id: str) -> list[int]:
    """The expires of every record write on the instance, in order."""
    values = []
    for entry in emu.requests("ModifyResourceTags", service="zrm"):
        for tag in entry["body"].get("replaceTags") or []:
            if tag.get("key") == RECORD_TAG_KEY and entry["body"].get("resourceUuid") == instance_id:
                values.append(int(tag["value"].split(".")[2]))
    return values


def send_later(signum: int, when: Any, timeout: float = 30.0) -> threading.Thread:
    """Send signum to this process once when() holds (the module runs in the main thread, where Python handles it)."""
    def waiter() -> None:
        ends = time.monotonic() + timeout
        while time.monotonic() < ends and not when():
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_cancel_during_the_image_wait_gives_the_lease_up_and_keeps_the_power(emulator_env, capsys, signum):
    emulator_env.patch(timings={"image_seconds": 600})
    claim(capsys, STOPPED_ID, power="running")
    sender = send_later(signum, lambda: emulator_env.images(name="cancelled"))
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "cancelled",
                                                      "power_record_owner": "job-1"})
    sender.join()
    assert result["failed"] is True and result["changed"] is True
    assert "cancelled by %s" % signal.Signals(signum).name in result["msg"] and "given up" in result["msg"]
    left = record_on(emulator_env, STOPPED_ID)
    assert left == dict(left, power="running", owner="job-1", expires=0), "the power to put back stays, the lease goes"


def test_a_cancel_of_a_task_of_another_owner_leaves_the_record_alone(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 600})
    claim(capsys, STOPPED_ID, owner="job-1")
    sender = send_later(signal.SIGINT, lambda: emulator_env.images(name="other"))
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "other",
                                                      "power_record_owner": "job-2"})
    sender.join()
    assert result["failed"] is True and "no power record was held" in result["msg"]
    assert record_on(emulator_env, STOPPED_ID)["expires"] > 0


@pytest.mark.long
def test_the_image_wait_renews_the_lease_when_a_third_is_left(emulator_env, capsys):
    """A 20-minute image under the default lease of 300 s: renewed every ~200 s, each time by 300 s from then."""
    emulator_env.patch(timings={"image_seconds": 1200})
    claim(capsys, STOPPED_ID)
    first = record_on(emulator_env, STOPPED_ID)
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "long",
                                                      "power_record_owner": "job-1"})
    assert result["changed"] is True and result["image"]["image_status"] == "AVAILABLE", result.get("msg")
    written = renewals(emulator_env, STOPPED_ID)
    assert 4 <= len(written) - 1 <= 8, written  # 1200 s / ~200 s
    assert all(later > earlier for earlier, later in zip(written, written[1:]))
    held = record_on(emulator_env, STOPPED_ID)
    assert held["owner"] == "job-1" and held["since"] == first["since"] and held["power"] == first["power"]
    assert not result.get("warnings"), "a renewal is not a change the user sees"


def test_a_record_taken_over_during_the_wait_ends_the_task_instead_of_renewing_it(emulator_env, capsys):
    emulator_env.patch(timings={"stop_seconds": 900})
    claim(capsys, RUNNING_ID)

    def take_over() -> None:
        emulator_env.wait_for(lambda: emulator_env.instance(RUNNING_ID)["instanceStatus"] == "STOPPING", timeout=30)
        value = "running.1.%d.job-2" % (time.time() + 10 ** 6)
        emulator_env.patch(instances={RUNNING_ID: {"tags": [{"key": RECORD_TAG_KEY, "value": value}]}})

    thread = threading.Thread(target=take_over, daemon=True)
    thread.start()
    result = run_module(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "stopped",
                                                               "power_record_owner": "job-1"})
    thread.join()
    assert result["failed"] is True and "taken over by job job-2" in result["msg"], result.get("msg")
    assert record_on(emulator_env, RUNNING_ID)["owner"] == "job-2", "never renewed over the other job's record"
