# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never left down, across runs: the role is interrupted (SIGINT, as an AWX cancel does, or SIGKILL, as a killed
execution environment) after the stop, during the image wait or during the start, with the emulator's writes taking
effect late (asynchronous acceptance); then the same role runs again. Every cell must end with the instance in its
original power state, exactly one image, no power record left, and the second run saying truthfully what it changed.
The same for a first run that fails on its own (the image outlasts wait_timeout, so the power cannot be put back)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ansible_run import BackgroundPlaybook, Scenario, run_playbook, secret_seed

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"
RECORD_KEY = "zenlayer-cloud-power-record"
WRITES = ("StopInstances", "StartInstances", "RebootInstances", "CreateImage", "DeleteImages", "ModifyResourceTags")
# Real seconds (time scale 1): slow enough to interrupt the role at a chosen moment.
TIMINGS = {"stop_seconds": 3, "start_seconds": 3, "image_seconds": 8}
ASYNC_LAG = 1.0
ROLE_TIMEOUTS = {"image_from_instance_stop_timeout": 8, "image_from_instance_wait_timeout": 20}
RECAP = re.compile(r"^localhost\s*:.*?changed=(\d+).*?failed=(\d+)", re.MULTILINE)


def role_play(instance_id: str, name: str, **role_vars: Any) -> list[dict]:
    variables = dict(ROLE_TIMEOUTS, image_from_instance_instance_id=instance_id, image_from_instance_name=name, **role_vars)
    return [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "image", "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
                        "vars": variables}]}]


def performed_writes(emu: Any, since: float = 0.0) -> list[str]:
    return [entry["action"] for entry in emu.requests() if entry["action"] in WRITES and entry["performed"]
            and entry["ts"] >= since]


def changed_and_failed(output: str) -> tuple[int, int]:
    match = RECAP.search(output)
    assert match, output[-2000:]
    return int(match.group(1)), int(match.group(2))


def assert_recovered(emu: Any, instance_id: str, original: str, name: str) -> None:
    emu.settle(60)
    instance = emu.instance(instance_id)
    assert instance["instanceStatus"] == original, "left %s, was %s" % (instance["instanceStatus"], original)
    images = [image for image in emu.images(name=name) if image.get("imageName") == name]
    assert len(images) == 1 and images[0]["imageStatus"] == "AVAILABLE", images
    assert RECORD_KEY not in (emu.tags(instance_id) or {}), emu.tags(instance_id)


def _moment_reached(emu: Any, instance_id: str, moment: str, name: str) -> bool:
    instance = emu.instance(instance_id) or {}
    status = instance.get("instanceStatus")
    if moment == "after the stop":
        return status in ("STOPPING", "STOPPED")
    if moment == "during the image wait":
        return any(image.get("imageName") == name for image in emu.images(name=name)) and status == "IMAGING"
    return status == "BOOTING"


CELLS = [(signal_name, moment, original)
         for signal_name in ("SIGINT", "SIGKILL")
         for moment, original in (("after the stop", "RUNNING"), ("during the image wait", "RUNNING"),
                                  ("during the start", "RUNNING"), ("during the image wait", "STOPPED"))]


@pytest.mark.parametrize("signal_name,moment,original", CELLS,
                         ids=["%s-%s-%s" % (s, m.replace(" ", "_"), o) for s, m, o in CELLS])
def test_interrupted_then_run_again(signal_name: str, moment: str, original: str, tmp_path: Path, harness,
                                    collections_root: str) -> None:
    instance_id = RUNNING_ID if original == "RUNNING" else STOPPED_ID
    name = "kill-golden"
    with Scenario("recovery", "role interrupted (%s) %s, async lag %.0f s, then run again" % (signal_name, moment, ASYNC_LAG),
                  "image_from_instance on a %s instance" % original,
                  expect="run 2: original power, one image, no record, truthful changed") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=1.0,
                             extra_args=["--async-lag", str(ASYNC_LAG)]) as emu:
        with BackgroundPlaybook(emu, collections_root, role_play(instance_id, name), tmp_dir=tmp_path / "1") as first:
            emu.wait_for(lambda: _moment_reached(emu, instance_id, moment, name), timeout=60)
            first.process.send_signal(getattr(signal, signal_name))
            interrupted = first.wait(60)
        assert interrupted.rc != 0, "the interrupted run must not end as a success"
        second_started = time.time()
        second = run_playbook(emu, collections_root, role_play(instance_id, name), tmp_dir=tmp_path / "2")
        sc.scan(interrupted.output, second.output, emu.requests())
        changed, failed = changed_and_failed(second.output)
        sc.outcome = "run 2 rc %s, %d changed, writes %s" % (second.rc, changed, performed_writes(emu, second_started))
        assert second.rc == 0 and failed == 0, second.report()
        assert (changed > 0) == bool(performed_writes(emu, second_started)), "run 2's changed must match its writes"
        assert_recovered(emu, instance_id, original, name)
        sc.check_images(emu.state())
        sc.check_power(emu.state(), {instance_id: original})


def test_a_run_that_could_not_put_the_power_back_is_repaired_by_the_next(
        tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 11, item 1: the image outlasts wait_timeout, the instance is IMAGING and cannot be started within
    stop_timeout; the next run finds the image (it only waits for it) and still puts the power back first."""
    timings = dict(TIMINGS, image_seconds=12)
    with Scenario("recovery", "image outlasts wait_timeout; power cannot be put back; run again",
                  "image_from_instance on a RUNNING instance",
                  expect="run 1 fails saying so; run 2 starts the instance (changed) and removes the record") as sc, \
            harness.Emulator(secret_seed(timings=timings), time_scale=1.0) as emu:
        short = {"image_from_instance_wait_timeout": 2, "image_from_instance_stop_timeout": 4}
        first = run_playbook(emu, collections_root, role_play(RUNNING_ID, "late-golden", **short), tmp_dir=tmp_path / "1")
        assert first.rc != 0 and "could not be put back" in first.output, first.report()
        assert RECORD_KEY in emu.tags(RUNNING_ID), "the record stays, given up, for the next run"
        second_started = time.time()
        second = run_playbook(emu, collections_root, role_play(RUNNING_ID, "late-golden"), tmp_dir=tmp_path / "2")
        sc.scan(first.output, second.output)
        changed, failed = changed_and_failed(second.output)
        sc.outcome = "run 2 rc %s, %d changed, writes %s" % (second.rc, changed, performed_writes(emu, second_started))
        assert second.rc == 0 and failed == 0 and changed > 0, second.report()
        assert "StartInstances" in performed_writes(emu, second_started)
        assert_recovered(emu, RUNNING_ID, "RUNNING", "late-golden")
        sc.check_power(emu.state(), {RUNNING_ID: "RUNNING"})


def test_a_second_job_does_not_take_an_instance_another_job_holds(tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 11, item 8: job B starts while job A holds the instance; B neither stops nor restores it under A."""
    with Scenario("recovery", "two jobs on one instance", "image_from_instance",
                  expect="job B fails naming job A; A ends normally; power as before") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=1.0) as emu:
        with BackgroundPlaybook(emu, collections_root, role_play(RUNNING_ID, "a-golden", image_from_instance_job_id="job-a"),
                                tmp_dir=tmp_path / "a") as job_a:
            emu.wait_for(lambda: emu.instance(RUNNING_ID)["instanceStatus"] in ("STOPPING", "STOPPED"), timeout=60)
            job_b = run_playbook(emu, collections_root,
                                 role_play(RUNNING_ID, "b-golden", image_from_instance_job_id="job-b",
                                           image_from_instance_lock_timeout=0), tmp_dir=tmp_path / "b")
            first = job_a.wait(120)
        sc.scan(first.output, job_b.output)
        sc.outcome = "job B rc %s; job A rc %s" % (job_b.rc, first.rc)
        assert job_b.rc != 0 and "held by job job-a" in job_b.output, job_b.report()
        assert first.rc == 0, first.report()
        assert [image["imageName"] for image in emu.images(name="b-golden")] == []
        assert_recovered(emu, RUNNING_ID, "RUNNING", "a-golden")
        sc.check_power(emu.state(), {RUNNING_ID: "RUNNING"})
