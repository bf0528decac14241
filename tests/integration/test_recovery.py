# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never left down, never lying, across runs - on the role's defaults (lease 300 s, stop_timeout 600 s,
wait_timeout 1800 s), the emulator's time scaled (and the modules' clock with it) and in its harshest mode (writes
applied 2 s late with 1 s of jitter, images listed 3 s after the instance shows IMAGING, IMAGING 3 s past AVAILABLE).

The kill matrix: the role is interrupted by SIGINT or SIGTERM (to ansible-playbook's process group, as Ctrl-C or a
cancel), SIGKILL of the process group (a killed job), SIGKILL of ansible-playbook alone (which leaves the running
module an orphan, as a runner's terminate can), or SIGKILL of every process of the job (a lost execution-environment
pod: the running module and the lease's watchdog go too, so only the lease's lapse frees the instance), at four
moments: after the record, after the stop, during the image wait, during the start. Then the role runs again, without
take_over, and must repair: put the power back within one
cloud cycle + 30 s after SIGINT or SIGTERM, within lease + margin + cycle after a SIGKILL; every cell ends in its
original power state, with one image, no power record, and no process of the job left. The time to repair of each
cell goes to docs/reliability.md (scripts/reliability.py).

Also: a run whose shutdown fails before sending anything leaves no record behind; a key without the resource manager
still puts back the power a record of another key says; two jobs on one instance."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ansible_run import Scenario, ansible_env, playbook_command, run_playbook, secret_seed

RUNNING_ID = "ins-hkg-web-0001"
RECORD_KEY = "zenlayer-cloud-power-record"
WRITES = ("StopInstances", "StartInstances", "RebootInstances", "CreateImage", "DeleteImages", "ModifyResourceTags")
# Emulator seconds: a cloud cycle of stop + image + start. The emulator's time (and the modules' clock) runs 50 x fast.
TIMINGS = {"stop_seconds": 30, "start_seconds": 30, "image_seconds": 120}
CYCLE = sum(TIMINGS.values())
TIME_SCALE = 0.02
LEASE, MARGIN = 300, 60
OVERHEAD = 30.0  # real seconds for ansible-playbook itself (start-up, tasks), which no time scale shortens
RECAP = re.compile(r"^localhost\s*:.*?changed=(\d+).*?failed=(\d+)", re.MULTILINE)

SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL of the process group", "SIGKILL of ansible-playbook alone",
           "SIGKILL of every process of the job")
MOMENTS = ("after the record", "after the stop", "during the image wait", "during the start")
CELLS = [(sig, moment) for sig in SIGNALS for moment in MOMENTS]


def role_play(name: str, **role_vars: Any) -> list[dict]:
    variables = dict(image_from_instance_instance_id=RUNNING_ID, image_from_instance_name=name, **role_vars)
    return [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "image", "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
                        "vars": variables}]}]


def changed_and_failed(output: str) -> tuple[int, int]:
    match = RECAP.search(output)
    assert match, output[-2000:]
    return int(match.group(1)), int(match.group(2))


def performed(emu: Any, action: str, service: str | None = None) -> list[dict]:
    return [entry for entry in emu.requests(action, service=service) if entry["performed"]]


def moment_reached(emu: Any, moment: str) -> bool:
    """The moments, read from the emulator's request log (its statuses lag behind the writes)."""
    if moment == "after the record":
        return bool(performed(emu, "ModifyResourceTags", "zrm"))
    if moment == "after the stop":
        return bool(performed(emu, "StopInstances"))
    if moment == "during the image wait":
        return bool(performed(emu, "CreateImage")) and len(emu.requests("DescribeImages")) >= 3
    return bool(performed(emu, "StartInstances"))


class Job:
    """ansible-playbook in a session of its own, so that a test can signal its process group as a terminal or a
    runner does; the job's module temp files (ANSIBLE_REMOTE_TEMP) are under its own folder, to find what it left."""

    def __init__(self, emu: Any, collections_root: str, plays: list[dict], tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        command = playbook_command(emu, plays, tmp_dir)
        env = ansible_env(emu, collections_root, tmp_dir, extra_env={"ANSIBLE_REMOTE_TEMP": str(tmp_dir / "remote")})
        self.process = subprocess.Popen(command, env=env, cwd=str(tmp_dir), stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def signal(self, name: str) -> None:
        if name == "SIGKILL of every process of the job":  # a lost pod: its modules and the watchdog go too
            os.killpg(self.process.pid, signal.SIGKILL)
            for line in self.leftovers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line.split()[0]), signal.SIGKILL)
        elif name == "SIGKILL of ansible-playbook alone":
            os.kill(self.process.pid, signal.SIGKILL)
        elif name == "SIGKILL of the process group":
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            os.killpg(self.process.pid, getattr(signal, name))

    def wait(self, timeout: float = 120) -> tuple[int, str]:
        try:
            output = self.process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            output = self.process.communicate()[0] + b"\n[test] killed after %d s" % timeout
        return self.process.returncode, output.decode("utf-8", "replace")

    def leftovers(self) -> list[str]:
        """Processes of this job still running: its modules (and their watchdogs) run from its remote temp folder."""
        listing = subprocess.run(["ps", "-eo", "pid,args"], stdout=subprocess.PIPE, text=True, check=True).stdout
        return [line.strip() for line in listing.splitlines() if str(self.tmp_dir) in line and "ps -eo" not in line]


def _record_timeline(emu: Any, instance_id: str | None = None) -> list[tuple[float, str | None, bool]]:
    """(when it was accepted, owner or None, live) of every power record written (on one instance), from the log."""
    return [(entry["ts"], record and record["owner"], bool(record) and record["expires"] != 0)
            for entry, _kind, record in emu.record_writes(performed(emu, "ModifyResourceTags", "zrm"))
            if instance_id is None or entry["body"].get("resourceUuid") == instance_id]


def repaired_at(emu: Any, since: float, owner: str, instance_ids: tuple[str, ...] = (RUNNING_ID,)) -> float | None:
    """The emulator's wall time from which every instance runs again and the interrupted job (owner) no longer holds
    a live lease on it: a relaunch can then take over without waiting, and no instance is left down."""
    times = [_repaired_at(emu, since, owner, instance_id) for instance_id in instance_ids]
    return None if None in times else max(times)  # type: ignore[type-var]


def _repaired_at(emu: Any, since: float, owner: str, instance_id: str) -> float | None:
    statuses = [(event["ts"], event["to"]) for event in emu.events() if event["id"] == instance_id]
    records = _record_timeline(emu, instance_id)

    def at(timeline: list, when: float, default: Any) -> Any:
        past = [item for item in timeline if item[0] <= when]
        return past[-1] if past else default

    for when in sorted({since} | {change[0] for change in statuses + records if change[0] >= since}):
        status = at(statuses, when, (0, "RUNNING"))[1]
        holder, live = at(records, when, (0, None, False))[1:]
        if status == "RUNNING" and not (holder == owner and live):
            return when
    return None


def first_owner(emu: Any) -> str:
    return next(change[1] for change in _record_timeline(emu) if change[1])


def assert_left_clean(emu: Any, name: str) -> None:
    emu.settle(60)
    assert emu.instance(RUNNING_ID)["instanceStatus"] == "RUNNING", emu.instance(RUNNING_ID)
    images = [image for image in emu.images(name=name) if image.get("imageName") == name]
    assert [image["imageStatus"] for image in images] == ["AVAILABLE"], images
    assert RECORD_KEY not in (emu.tags(RUNNING_ID) or {}), emu.tags(RUNNING_ID)


def repair_bound(signal_name: str) -> float:
    """Real seconds: one cycle (+ lease + margin after a SIGKILL, whose job cannot give its lease up) on the scaled
    clock, + the ansible-playbook overhead."""
    scaled = CYCLE + (LEASE + MARGIN if signal_name.startswith("SIGKILL") else 0)
    return scaled * TIME_SCALE + OVERHEAD


def _cell_id(signal_name: str, moment: str) -> str:
    short = {"SIGKILL of the process group": "SIGKILL-group", "SIGKILL of ansible-playbook alone": "SIGKILL-alone",
             "SIGKILL of every process of the job": "SIGKILL-all"}
    return "%s-%s" % (short.get(signal_name, signal_name), moment.replace(" ", "_"))


@pytest.mark.parametrize("signal_name,moment", CELLS, ids=[_cell_id(s, m) for s, m in CELLS])
def test_killed_then_relaunched_repairs(signal_name: str, moment: str, tmp_path: Path, harness,
                                        collections_root: str) -> None:
    name = "kill-golden"
    with Scenario("kill matrix", "role: %s %s; relaunched without take_over" % (signal_name, moment),
                  "image_from_instance", expect="power back within the bound, one image, no record, nothing left running") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=TIME_SCALE, harsh=True) as emu:
        first = Job(emu, collections_root, role_play(name), tmp_path / "1")
        try:
            emu.wait_for(lambda: moment_reached(emu, moment), timeout=120)
            signalled_wall, signalled = time.time(), time.monotonic()
            first.signal(signal_name)
            rc, output = first.wait()
            assert rc != 0, "an interrupted run must not end as a success:\n" + output[-3000:]
            relaunch = run_playbook(emu, collections_root, role_play(name), tmp_dir=tmp_path / "2")
        finally:
            if first.process.poll() is None:
                os.killpg(first.process.pid, signal.SIGKILL)
        sc.scan(output, relaunch.output, emu.requests())
        changed, failed = changed_and_failed(relaunch.output)
        back = repaired_at(emu, signalled_wall, first_owner(emu))
        repair = (back - signalled_wall) if back is not None else time.monotonic() - signalled
        sc.record.update(kill_signal=signal_name, kill_moment=moment, kill_path="role (one instance)",
                         repair_seconds=round(repair, 1))
        sc.record["repair_bound"] = round(repair_bound(signal_name), 1)
        sc.outcome = "relaunch rc %s, %d changed; power back %.1f s after the signal (bound %.0f s)" % (
            relaunch.rc, changed, repair, repair_bound(signal_name))
        assert relaunch.rc == 0 and failed == 0, relaunch.report()
        assert repair <= repair_bound(signal_name), sc.outcome
        assert_left_clean(emu, name)
        sc.check_images(emu.state())
        sc.check_power(emu.state(), {RUNNING_ID: "RUNNING"})
        deadline = time.monotonic() + 10
        while first.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.leftovers() == [], "processes of the interrupted job left running"


def test_a_shutdown_refused_before_anything_was_sent_leaves_no_record(tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 19 item 5: DescribeInstances answers 503 six times in the shutdown step: the role fails, the instance was
    never stopped, and the record it wrote is removed, so the next job is not held up."""
    with Scenario("recovery", "shutdown step fails before sending anything (DescribeInstances 503 x 6)",
                  "image_from_instance", expect="fails; no record left; the next run images at once") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=TIME_SCALE) as emu:
        emu.add_faults({"action": "DescribeInstances", "kind": "error", "status": 503,
                        "code": "SERVICE_TEMPORARY_UNAVAILABLE", "after": 1, "times": 6})
        first = run_playbook(emu, collections_root, role_play("shut-golden"), tmp_dir=tmp_path / "1")
        assert first.rc != 0 and first.failed("zenlayer.cloud.image_from_instance : Shut the instance down"), first.report()
        assert not performed(emu, "StopInstances")
        assert RECORD_KEY not in (emu.tags(RUNNING_ID) or {}), "the record must go: " + str(emu.tags(RUNNING_ID))
        second = run_playbook(emu, collections_root, role_play("shut-golden", image_from_instance_lock_timeout=0),
                              tmp_dir=tmp_path / "2")
        sc.scan(first.output, second.output)
        sc.outcome = "run 1 failed in the shutdown step, no record; run 2 rc %s" % second.rc
        assert second.rc == 0, second.report()
        assert_left_clean(emu, "shut-golden")


def test_a_key_without_the_resource_manager_puts_back_what_another_keys_record_says(
        tmp_path: Path, harness, collections_root: str) -> None:
    """Issue 19 item 6: the instance was left STOPPED by a job of another key whose record (read from the instance's
    own tags) says running; this key may not use zrm: the role still puts the power back, then images."""
    with Scenario("recovery", "no zrm access; a lapsed record of another key says running", "image_from_instance",
                  expect="the instance is started again, imaged, and left running") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=TIME_SCALE) as emu:
        now = int(emu.now()) if hasattr(emu, "now") else int(time.time())
        emu.patch(instances={RUNNING_ID: {"instanceStatus": "STOPPED",
                                          "tags": [{"key": RECORD_KEY, "value": "running.%d.0.other-job" % (now - 600)}]}},
                  zrm_denied_keys=[emu.credentials.access_key_id])
        run = run_playbook(emu, collections_root, role_play("nozrm-golden"), tmp_dir=tmp_path)
        sc.scan(run.output)
        sc.outcome = "rc %s; instance %s" % (run.rc, emu.instance(RUNNING_ID)["instanceStatus"])
        assert run.rc == 0, run.report()
        assert performed(emu, "StartInstances"), "the power the record says was never put back"
        emu.settle(60)
        assert emu.instance(RUNNING_ID)["instanceStatus"] == "RUNNING"
        assert [image["imageStatus"] for image in emu.images(name="nozrm-golden")] == ["AVAILABLE"]


def test_a_second_job_waits_for_a_live_holder_and_names_it(tmp_path: Path, harness, collections_root: str) -> None:
    """Job B starts while job A holds the instance (its lease live, renewed); B neither stops nor restores it under A,
    and with lock_timeout 0 fails naming job A."""
    with Scenario("recovery", "two jobs on one instance", "image_from_instance",
                  expect="job B fails naming job A; A ends normally; power as before") as sc, \
            harness.Emulator(secret_seed(timings=TIMINGS), time_scale=TIME_SCALE) as emu:
        # A's image is made only once B has ended: on a loaded machine B's start-up (real seconds) would otherwise
        # outlast A's whole scaled cycle, and B would find the instance free
        emu.patch(timings=dict(TIMINGS, image_seconds=1500))
        job_a = Job(emu, collections_root, role_play("a-golden", image_from_instance_job_id="job-a"), tmp_path / "a")
        try:
            emu.wait_for(lambda: moment_reached(emu, "after the stop"), timeout=120)
            job_b = run_playbook(emu, collections_root, role_play("b-golden", image_from_instance_job_id="job-b",
                                                                  image_from_instance_lock_timeout=0),
                                 tmp_dir=tmp_path / "b")
            emu.wait_for(lambda: emu.images(name="a-golden"), timeout=120)
            done = time.time()
            emu.finish_images([emu.images(name="a-golden")[0]["imageId"]], at=done)
            emu.patch(instances={RUNNING_ID: {"pending": {"to": "STOPPED", "at": done}}})
            rc_a, output_a = job_a.wait(180)
        finally:
            if job_a.process.poll() is None:
                os.killpg(job_a.process.pid, signal.SIGKILL)
        sc.scan(output_a, job_b.output)
        sc.outcome = "job B rc %s; job A rc %s" % (job_b.rc, rc_a)
        assert job_b.rc != 0 and "held by job job-a" in job_b.output, job_b.report()
        assert rc_a == 0, output_a[-3000:]
        assert emu.images(name="b-golden") == []
        assert_left_clean(emu, "a-golden")


# -- the fleet path --------------------------------------------------------------------------------------------------

FLEET = tuple("ins-kill-%d" % n for n in range(4))
FLEET_PLAY = [{"hosts": "fleet", "connection": "local", "gather_facts": False,
               "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
               "tasks": [{"name": "Image the fleet",
                          "ansible.builtin.import_role": {"name": "zenlayer.cloud.image_from_instance", "tasks_from": "fleet"},
                          "vars": {"image_from_instance_name": "{{ inventory_hostname }}-golden"}}]}]
FLEET_INVENTORY = "[fleet]\n" + "".join("%s zenlayer_instance_id=%s\n" % (instance_id, instance_id) for instance_id in FLEET)


def fleet_seed() -> dict:
    seed = secret_seed(timings=TIMINGS)
    seed["instances"] = [{"instanceId": instance_id, "zoneId": "HKG-A", "instanceName": instance_id,
                          "instanceStatus": "RUNNING", "systemDiskSize": 20} for instance_id in FLEET]
    seed["image_quota"] = 20
    return seed


class FleetJob(Job):
    def __init__(self, emu: Any, collections_root: str, tmp_dir: Path) -> None:  # pylint: disable=super-init-not-called
        self.tmp_dir = tmp_dir
        command = playbook_command(emu, FLEET_PLAY, tmp_dir, inventory=FLEET_INVENTORY)
        env = ansible_env(emu, collections_root, tmp_dir, extra_env={"ANSIBLE_REMOTE_TEMP": str(tmp_dir / "remote")})
        self.process = subprocess.Popen(command, env=env, cwd=str(tmp_dir), stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("signal_name,moment", CELLS, ids=[_cell_id(s, m) for s, m in CELLS])
def test_fleet_killed_then_relaunched_repairs(signal_name: str, moment: str, tmp_path: Path, harness,
                                              collections_root: str) -> None:
    with Scenario("kill matrix", "fleet: %s %s; relaunched without take_over" % (signal_name, moment),
                  "image_from_instance (fleet)",
                  expect="power back within the bound, one image each, no record, nothing left running") as sc, \
            harness.Emulator(fleet_seed(), time_scale=TIME_SCALE, harsh=True) as emu:
        first = FleetJob(emu, collections_root, tmp_path / "1")
        try:
            emu.wait_for(lambda: moment_reached(emu, moment), timeout=120)
            signalled_wall, signalled = time.time(), time.monotonic()
            first.signal(signal_name)
            rc, output = first.wait()
            relaunch = run_playbook(emu, collections_root, FLEET_PLAY, inventory=FLEET_INVENTORY, tmp_dir=tmp_path / "2")
        finally:
            if first.process.poll() is None:
                os.killpg(first.process.pid, signal.SIGKILL)
        sc.scan(output, relaunch.output, emu.requests())
        back = repaired_at(emu, signalled_wall, first_owner(emu), FLEET)
        repair = (back - signalled_wall) if back is not None else time.monotonic() - signalled
        sc.record.update(kill_signal=signal_name, kill_moment=moment, kill_path="fleet (4 instances)",
                         repair_seconds=round(repair, 1), repair_bound=round(repair_bound(signal_name), 1))
        sc.outcome = "interrupted rc %s; relaunch rc %s; power back %.1f s after the signal (bound %.0f s)" % (
            rc, relaunch.rc, repair, repair_bound(signal_name))
        assert relaunch.rc == 0, relaunch.report()
        assert repair <= repair_bound(signal_name), sc.outcome
        emu.settle(60)
        for instance_id in FLEET:
            assert emu.instance(instance_id)["instanceStatus"] == "RUNNING", emu.instance(instance_id)
            assert RECORD_KEY not in (emu.tags(instance_id) or {}), emu.tags(instance_id)
        sc.check_images(emu.state())
        assert sorted(image["imageName"] for image in emu.state()["images"] if image.get("zoneId")) == \
            sorted("%s-golden" % instance_id for instance_id in FLEET)
        sc.check_power(emu.state(), dict.fromkeys(FLEET, "RUNNING"))
        deadline = time.monotonic() + 10
        while first.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.leftovers() == [], "processes of the interrupted job left running"
