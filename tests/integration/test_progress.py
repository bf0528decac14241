# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress while it waits (issue 22), through the action plugins that run zenlayer_image, zenlayer_image_line,
zenlayer_instance_power and zenlayer_image_fleet in slices: real ansible-playbook, ansible (ad-hoc) and ansible-runner
runs against the emulator, on the modules' defaults.

* The role's output at default verbosity has a line when each wait starts and then at least one per 60 s of waiting,
  each naming what is awaited and its status, in the task that waits; the same in an AWX job's events.
* Parity: the same tasks in slices and in one piece (an async task runs its module in one piece) give the same
  `changed`, result and diff.
* A cancel between two slices (SIGINT or SIGTERM to the job's process group) ends the task as one during a slice does:
  no module left running, and the power record given up (expires 0) by its watchdog.
* The fleet (the role's fleet path, 30 hosts, a 90 s image, on a real clock): a line when the cycle's wait starts and
  at least one per 60 s, each with the images seen AVAILABLE of 30 and the others' statuses; in slices and in one
  piece the same outcomes; a cancel between two of its slices has its own watchdog give the run's records up.

The modules poll on their own clock. Once the emulator exports its scaled clock to them (the harness's
EMULATOR_CLOCK_ENV), these tests run at time scale 0.25; until then the modules' time is real, and so is the
emulator's (scale 1): a 90 s image is then 90 real seconds.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

from ansible_run import ansible_env, playbook_command, run_adhoc, run_playbook, secret_seed

# The action plugins live on ansible-core's machinery: a worker's display, _execute_module, async, the worker's signals,
# ansible-runner's events. So the tests of what a user sees (the lines, a cancel) are boundary tests, run on every
# ansible-core; the parity of slices with one piece tests our resume logic, on one (tests/README.md: the split).
BOUNDARY = pytest.mark.boundary

RUNNING_ID = "ins-hkg-web-0001"
STOPPED_ID = "ins-hkg-db-0001"
RECORD_KEY = "zenlayer-cloud-power-record"
ROLE = "zenlayer.cloud.image_from_instance : "
IMAGE_TASK = "Make the image and wait until it is available"
LINE = re.compile(r"^(?P<module>zenlayer_image|zenlayer_image_line|zenlayer_instance_power|zenlayer_image_fleet): "
                  r"(?P<what>.+) - "
                  r"(?P<waited>(?:\d+[hms] ?)+) of (?P<timeout>(?:\d+[hms] ?)+), (?P<polls>\d+) polls?$", re.MULTILINE)
UNITS = {"h": 3600, "m": 60, "s": 1}


class Progress(NamedTuple):
    module: str
    what: str
    waited: int
    timeout: int
    polls: int


def seconds(text: str) -> int:
    return sum(int(number) * UNITS[unit] for number, unit in re.findall(r"(\d+)([hms])", text))


def progress_lines(text: str) -> list[Progress]:
    return [Progress(m["module"], m["what"], seconds(m["waited"]), seconds(m["timeout"]), int(m["polls"]))
            for m in LINE.finditer(text)]


@pytest.fixture(autouse=True)
def collection_importable(collections_root: str) -> None:
    """The collection's code (and its unit test helpers) importable here, as ansible_collections.zenlayer.cloud."""
    if collections_root not in sys.path:
        sys.path.insert(0, collections_root)


def module_time_scale(harness: Any) -> float:
    """0.25 once the modules run on the emulator's (scaled) clock; else 1.0, see the module's docstring. Not less: the
    seconds Ansible takes to start a module again between two slices (up to 3 on a loaded machine) must stay shorter
    than a pause of the modules' polls (15 s for an image) on the scaled clock, as it is on a real one - else a slice
    goes on rather than delay its polls, and prints fewer lines (at 0.1, CI's load left the fleet one line)."""
    return 0.25 if getattr(harness, "EMULATOR_CLOCK_ENV", None) else 1.0


def role_play(instance_id: str, name: str, **role_vars: Any) -> list[dict]:
    variables = dict(image_from_instance_instance_id=instance_id, image_from_instance_name=name, **role_vars)
    return [{"hosts": "localhost", "gather_facts": False,
             "tasks": [{"name": "image", "ansible.builtin.include_role": {"name": "zenlayer.cloud.image_from_instance"},
                        "vars": variables}]}]


def is_the_start(line: Progress, module: str, what: str, timeout: int) -> bool:
    """The line of a wait that starts: no poll yet, no more than a few seconds waited (reading what it waits for)."""
    return (line.module, line.what, line.timeout, line.polls) == (module, what, timeout, 0) and line.waited <= 5


def task_sections(output: str) -> dict[str, str]:
    """The screen output of each task, by the task name in its banner (the last run of a name)."""
    sections = {}
    for chunk in re.split(r"^TASK \[", output, flags=re.MULTILINE)[1:]:
        banner, _sep, body = chunk.partition("\n")
        sections[banner.split("] ")[0].split(" : ")[-1]] = body
    return sections


def assert_a_line_every_minute(lines: list[Progress], wait_seconds: float) -> None:
    """One line when the wait starts, then none more than 60 s after the one before, until the end of a wait of at
    least `wait_seconds` (the image's time: it is seen AVAILABLE at a poll after that)."""
    waited = [line.waited for line in lines]
    assert waited and waited[0] <= 5 and lines[0].polls == 0, "no line when the wait starts: %s" % (lines,)
    assert all(0 <= later - earlier <= 60 for earlier, later in zip(waited, waited[1:])), waited
    assert waited[-1] >= wait_seconds - 60, "the last line is more than 60 s before the end of the wait: %s" % waited
    assert len(lines) >= 1 + int(wait_seconds // 60), lines


# -- the role at default verbosity ------------------------------------------------------------------------------------


@BOUNDARY
def test_the_role_says_what_it_waits_for_at_least_every_minute(tmp_path: Path, harness, collections_root: str) -> None:
    timings = {"stop_seconds": 20, "start_seconds": 20, "image_seconds": 90}
    with harness.Emulator(secret_seed(timings=timings), time_scale=module_time_scale(harness)) as emu:
        run = run_playbook(emu, collections_root, role_play(RUNNING_ID, "web-golden"), tmp_dir=tmp_path, timeout=900)
    assert run.rc == 0, run.report()
    image_id = run.task(ROLE + IMAGE_TASK)["result"]["image"]["image_id"]
    sections = task_sections(run.output)
    image_lines = progress_lines(sections[IMAGE_TASK])
    assert image_lines and all(line.module == "zenlayer_image" and line.what == "web-golden (%s) CREATING" % image_id
                               and line.timeout == 1800 for line in image_lines), image_lines
    assert_a_line_every_minute(image_lines, timings["image_seconds"])
    stop = progress_lines(sections["Shut the instance down and wait until it is stopped"])
    start = progress_lines(sections["Put the instance's power back (running)"])
    assert is_the_start(stop[0], "zenlayer_instance_power", "%s STOPPING" % RUNNING_ID, 600), stop
    assert is_the_start(start[0], "zenlayer_instance_power", "%s BOOTING" % RUNNING_ID, 600), start
    assert len(progress_lines(run.output)) == len(image_lines) + len(stop) + len(start), "a line outside its task"
    assert "\x1b[" not in run.output, "colour codes in output that is no terminal"
    for record in run.results:
        assert not {"resume", "progress"} & set(record["result"]), record
        assert "progress_slice" not in str((record["result"].get("invocation") or {}).get("module_args")), record


# -- the role's fleet path ----------------------------------------------------------------------------------------------

FLEET_TASK = "Image every instance of this batch in one cloud cycle"
FLEET_WHAT = re.compile(r"(?P<available>\d+)/30 AVAILABLE(?:, \d+ [A-Z_]+)*")


def test_the_fleet_says_how_many_images_are_available_at_least_every_minute(tmp_path: Path, harness,
                                                                            collections_root: str) -> None:
    """30 hosts, a 90 s image: the fleet task's output has a line when the cycle's wait starts (its stops sent), then
    at least one per 60 s of waiting, each with the images seen AVAILABLE of 30 and the others' statuses.

    On a real clock (about two minutes): starting the fleet's module again for its next slice, with 30 hosts, took
    over 7 s on a loaded machine, which a clock at 0.25 makes 30 s, more than a poll's pause, so the module rightly
    went on in one piece (Slice) and printed one line. Our own logic (the role and AWX tests above show the lines
    through Ansible on every ansible-core), so not a boundary test."""
    from test_fleet import PLAY, _inventory, _seed  # pylint: disable=import-outside-toplevel,import-error

    seed = _seed()
    seed["timings"] = dict(seed["timings"], image_seconds=90)
    with harness.Emulator(seed, time_scale=1.0) as emu:
        ids = [item["instanceId"] for item in seed["instances"]]
        run = run_playbook(emu, collections_root, PLAY, tmp_dir=tmp_path, inventory=_inventory(ids), timeout=900)
    assert run.rc == 0, run.report()
    outcomes = run.task(ROLE + FLEET_TASK)["result"]["outcomes"]
    assert len(outcomes) == 30 and all(not out["failed"] and out["image"]["image_status"] == "AVAILABLE"
                                       for out in outcomes.values()), outcomes
    lines = progress_lines(task_sections(run.output)[FLEET_TASK])
    assert lines and all(line.module == "zenlayer_image_fleet" and FLEET_WHAT.fullmatch(line.what) and line.timeout == 1800
                         for line in lines), lines
    assert lines[0].waited <= 15 and lines[0].what.startswith("0/30 AVAILABLE, "), "no line when the cycle's wait starts"
    waited = [line.waited for line in lines]
    assert all(0 <= later - earlier <= 60 for earlier, later in zip(waited, waited[1:])), waited
    assert waited[-1] >= 90 - 60 and len(lines) >= 1 + 90 // 60, waited
    available = [int(FLEET_WHAT.fullmatch(line.what)["available"]) for line in lines]
    assert available == sorted(available), available
    assert len(progress_lines(run.output)) == len(lines), "a line outside the fleet task"


# -- the same through ansible-runner, as an AWX job --------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch):
    """No ZENLAYERCLOUD_* (nor ANSIBLE_*) in the process: the credential comes from the job's env/envvars only."""
    for name in list(os.environ):
        if name.startswith(("ZENLAYERCLOUD_", "ANSIBLE_")):
            monkeypatch.delenv(name)


@BOUNDARY
def test_an_awx_job_shows_the_progress_lines_in_its_events(tmp_path: Path, clean_environment, harness,  # pylint: disable=unused-argument,redefined-outer-name
                                                           collections_root: str) -> None:
    pytest.importorskip("ansible_runner")
    from test_awx_runner import _assert_job_succeeded, _key_pair_inputs, _private_data_dir, _run_job, _runner_env, \
        render_injected_env  # pylint: disable=import-outside-toplevel,import-error
    import json  # pylint: disable=import-outside-toplevel

    timings = {"stop_seconds": 10, "start_seconds": 10, "image_seconds": 90}
    with harness.Emulator(secret_seed(timings=timings), time_scale=module_time_scale(harness)) as emu:
        injected, _safe = render_injected_env(_key_pair_inputs(emu))
        private = _private_data_dir(tmp_path, injected, "localhost ansible_connection=local\n")
        playbook = tmp_path / "image.yml"
        playbook.write_text(json.dumps(role_play(RUNNING_ID, "awx-golden")), encoding="utf-8")
        env = dict(_runner_env(collections_root, tmp_path),
                   **{name: value for name, value in emu.env().items() if name == getattr(harness, "EMULATOR_CLOCK_ENV", "")})
        runner, events = _run_job(private, playbook, env, {})
        _assert_job_succeeded(runner, events, ["localhost"])
    starts = [event for event in events if event["event"] == "playbook_on_task_start"
              and event["event_data"].get("task", "").endswith(IMAGE_TASK)]
    done = [event for event in events if event["event"] == "runner_on_ok" and event["event_data"].get("task", "").endswith(IMAGE_TASK)]
    assert len(starts) == 1 and len(done) == 1, [event["event"] for event in events]
    image_id = done[0]["event_data"]["res"]["image"]["image_id"]
    inside = [event for event in events if starts[0]["counter"] < event["counter"] < done[0]["counter"]]
    shown = [event for event in inside if LINE.search(event.get("stdout") or "")]
    assert shown and all(event["event"] == "verbose" for event in shown), [(e["event"], e.get("stdout")) for e in inside]
    lines = progress_lines("\n".join(event["stdout"] for event in shown))
    assert all(line.what == "awx-golden (%s) CREATING" % image_id for line in lines), lines
    assert_a_line_every_minute(lines, timings["image_seconds"])
    assert "progress" not in done[0]["event_data"]["res"] and "resume" not in done[0]["event_data"]["res"]


# -- ad-hoc, and check mode --------------------------------------------------------------------------------------------


@BOUNDARY
def test_ad_hoc_shows_the_lines_and_check_mode_none(tmp_path: Path, harness, collections_root: str) -> None:
    with harness.Emulator(secret_seed(timings={"image_seconds": 20}), time_scale=module_time_scale(harness)) as emu:
        args = {"instance_id": STOPPED_ID, "name": "adhoc"}
        made = run_adhoc(emu, collections_root, "zenlayer.cloud.zenlayer_image", args, tmp_dir=tmp_path / "real")
        assert made.rc == 0, made.report()
        image_id = re.search(r'"image_id": "(img-[0-9a-f]+)"', made.output).group(1)
        assert is_the_start(progress_lines(made.output)[0], "zenlayer_image", "adhoc (%s) CREATING" % image_id, 1800)
        emu.patch(images={"img-checked": {"imageName": "checked", "zoneId": "HKG-A", "imageStatus": "CREATING",
                                          "pending": {"to": "AVAILABLE", "at": time.time() + 20 * emu.time_scale}}})
        checked = run_adhoc(emu, collections_root, "zenlayer.cloud.zenlayer_image", {"zone_id": "HKG-A", "name": "checked"},
                            tmp_dir=tmp_path / "check", check=True)
        assert checked.rc == 0 and '"image_status": "AVAILABLE"' in checked.output, checked.report()
        assert progress_lines(checked.output) == [], "check mode waited for the image in one piece, silently"


# -- parity: in slices and in one piece ---------------------------------------------------------------------------------

NIGHT = "2026-11-30T02:00:00Z"
PARITY_TASKS = [
    ("stop", "zenlayer.cloud.zenlayer_instance_power", {"instance_ids": [RUNNING_ID], "state": "stopped"}),
    ("image, no wait", "zenlayer.cloud.zenlayer_image", {"instance_id": RUNNING_ID, "name": "parity", "wait": False}),
    ("image being made, new description", "zenlayer.cloud.zenlayer_image",
     {"instance_id": RUNNING_ID, "name": "parity", "description": "two"}),
    ("line", "zenlayer.cloud.zenlayer_image_line", {"prefix": "line-", "instance_id": RUNNING_ID, "keep": 1, "now": NIGHT}),
    ("start", "zenlayer.cloud.zenlayer_instance_power", {"instance_ids": [RUNNING_ID, STOPPED_ID], "state": "running"}),
    ("restart", "zenlayer.cloud.zenlayer_instance_power", {"instance_ids": [RUNNING_ID], "state": "restarted"}),
    ("delete", "zenlayer.cloud.zenlayer_image", {"zone_id": "HKG-A", "name": "parity", "state": "absent"}),
]


def in_one_piece_and_in_slices(run: Callable[[bool, Path], Any], tmp_path: Path) -> dict[str, Any]:
    """run(in_one_piece, tmp_dir) both ways at the same time, each against its own emulator (they only wait on their
    emulator's clock); both must end with rc 0. {"one piece": run, "slices": run}."""
    labels = {"one piece": True, "slices": False}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {label: pool.submit(run, in_one_piece, tmp_path / label.replace(" ", "-"))
                   for label, in_one_piece in labels.items()}
        runs = {label: future.result() for label, future in futures.items()}
    for run_of_label in runs.values():
        assert run_of_label.rc == 0, run_of_label.report()
    return runs


def parity_play(in_one_piece: bool) -> list[dict]:
    tasks = []
    for name, module, args in PARITY_TASKS:
        task: dict[str, Any] = {"name": name, module: args, "diff": True}
        if in_one_piece:
            task.update({"async": 1800, "poll": 1})
        tasks.append(task)
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def test_tasks_in_slices_give_the_results_of_tasks_in_one_piece(tmp_path: Path, harness, collections_root: str) -> None:
    from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import normalized  # pylint: disable=import-outside-toplevel

    timings = {"stop_seconds": 8, "start_seconds": 8, "image_seconds": 120}

    def run(in_one_piece: bool, tmp_dir: Path) -> Any:
        with harness.Emulator(secret_seed(timings=timings), time_scale=module_time_scale(harness)) as emu:
            return run_playbook(emu, collections_root, parity_play(in_one_piece), tmp_dir=tmp_dir, timeout=900)

    runs = in_one_piece_and_in_slices(run, tmp_path)
    assert progress_lines(runs["one piece"].output) == [], "an async task runs its module in one piece, silently"
    shown = {line.module for line in progress_lines(runs["slices"].output)}
    assert shown == {"zenlayer_image", "zenlayer_image_line", "zenlayer_instance_power"}, shown
    for name, _module, _args in PARITY_TASKS:
        whole, sliced = runs["one piece"].task(name)["result"], runs["slices"].task(name)["result"]
        assert normalized(sliced) == normalized(whole), name


FLEET_ARGS = {"instances": [{"instance_id": RUNNING_ID, "name": "fleet-web"}, {"instance_id": STOPPED_ID, "name": "fleet-db"},
                            {"instance_id": "ins-fra-app-0001", "name": "fleet-app", "key": "app"},
                            {"instance_id": "ins-sin-app-0001", "name": "fleet-sin"}]}


def test_a_fleet_in_slices_gives_the_result_of_the_fleet_in_one_piece(tmp_path: Path, harness, collections_root: str) -> None:
    """Four instances, one of them in a zone without images (it fails alone): in slices, and in one piece (async)."""
    from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import fleet_result  # pylint: disable=import-outside-toplevel

    def run(in_one_piece: bool, tmp_dir: Path) -> Any:
        task: dict[str, Any] = {"name": "fleet", "zenlayer.cloud.zenlayer_image_fleet": FLEET_ARGS, "ignore_errors": True}
        if in_one_piece:
            task.update({"async": 1800, "poll": 1})
        with harness.Emulator(secret_seed(timings={"stop_seconds": 8, "start_seconds": 8, "image_seconds": 120}),
                              time_scale=module_time_scale(harness)) as emu:
            return run_playbook(emu, collections_root, [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}],
                                tmp_dir=tmp_dir, timeout=900)

    runs = in_one_piece_and_in_slices(run, tmp_path)
    assert progress_lines(runs["one piece"].output) == [], "an async task runs its module in one piece, silently"
    assert {line.module for line in progress_lines(runs["slices"].output)} == {"zenlayer_image_fleet"}
    whole, sliced = runs["one piece"].task("fleet")["result"], runs["slices"].task("fleet")["result"]
    keys = ("changed", "msg", "outcomes", "failed_keys", "recorded", "throttled")
    assert fleet_result(sliced, keys) == fleet_result(whole, keys)
    assert runs["one piece"].failed("fleet") and runs["slices"].failed("fleet")
    assert whole["failed_keys"] == ["ins-sin-app-0001"] and whole["changed"] is True, whole


# -- a cancel between two slices ----------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, state)} of every process."""
    found = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(stat.split("/")[2])] = (int(fields[1]), fields[0])
    return found


def _descendants(pid: int) -> list[int]:
    """The live (not zombie) descendants of pid."""
    table, found, parents = _processes(), [], {pid}
    while True:
        more = [child for child, (parent, state) in table.items() if parent in parents and child not in found
                and state != "Z"]
        if not more:
            return found
        found += more
        parents = set(more)


def _cmdline(pid: int) -> bytes:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _holders(owner: str) -> list[str]:
    from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import lease_dir  # pylint: disable=import-outside-toplevel
    return glob.glob(os.path.join(lease_dir(), "%s--*.holder-*" % glob.escape(owner)))


def _stop_between_two_slices(playbook: subprocess.Popen, owner: str, deadline: float) -> int:
    """SIGSTOP the task's worker (the action plugin's process) while a slice of zenlayer_image runs, then let that
    slice end: the worker is then stopped between two slices - no module process left, no holder file of the job.
    Returns the worker's pid."""
    while time.monotonic() < deadline:
        for worker, (parent, _state) in _processes().items():
            if parent != playbook.pid or not any(b"AnsiballZ_zenlayer_image" in _cmdline(pid) for pid in _descendants(worker)):
                continue
            os.kill(worker, signal.SIGSTOP)
            while time.monotonic() < deadline:
                if not _descendants(worker) and not _holders(owner):
                    return worker
                time.sleep(0.05)
        time.sleep(0.05)
    raise AssertionError("never caught the task's worker between two slices")


@BOUNDARY
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_cancel_between_two_slices_gives_the_record_up(signal_name: str, tmp_path: Path, harness,
                                                         collections_root: str) -> None:
    from ansible_collections.zenlayer.cloud.plugins.module_utils._record import decode_record  # pylint: disable=import-outside-toplevel

    timings = {"stop_seconds": 5, "start_seconds": 5, "image_seconds": 3600}
    with harness.Emulator(secret_seed(timings=timings), time_scale=module_time_scale(harness)) as emu:
        command = playbook_command(emu, role_play(RUNNING_ID, "cancel-golden"), tmp_path)
        env = ansible_env(emu, collections_root, tmp_path)
        playbook = subprocess.Popen(command, env=env, cwd=str(tmp_path), stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        worker = None
        try:
            emu.wait_for(lambda: any(image.get("imageName") == "cancel-golden" for image in emu.images(name="cancel-golden")),
                         timeout=180)
            record = decode_record(emu.tags(RUNNING_ID)[RECORD_KEY])
            worker = _stop_between_two_slices(playbook, record["owner"], time.monotonic() + 120)
            os.killpg(playbook.pid, getattr(signal, signal_name))
            time.sleep(0.5)
            os.kill(worker, signal.SIGCONT)
            output = playbook.communicate(timeout=120)[0].decode("utf-8", "replace")
        finally:
            if worker is not None:
                os.kill(worker, signal.SIGCONT) if os.path.exists("/proc/%d" % worker) else None
            if playbook.poll() is None:
                os.killpg(playbook.pid, signal.SIGKILL)
                playbook.wait()
        assert playbook.returncode != 0, output
        assert "Make the image and wait until it is available" in output and "PLAY RECAP" not in output, output
        lapsed = emu.wait_for(lambda: (decode_record((emu.tags(RUNNING_ID) or {}).get(RECORD_KEY)) or {}).get("expires") == 0,
                              timeout=30)
        assert lapsed, emu.tags(RUNNING_ID)
        left = decode_record(emu.tags(RUNNING_ID)[RECORD_KEY])
        assert left["owner"] == record["owner"] and left["power"] == "running", left
        assert not os.path.exists("/proc/%d" % worker) or open("/proc/%d/stat" % worker, encoding="utf-8").read().split()[2] == "Z"
        assert _holders(record["owner"]) == [], "a module of the cancelled job still runs"


@BOUNDARY
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_cancel_between_two_fleet_slices_gives_the_records_up(signal_name: str, tmp_path: Path, harness,
                                                                collections_root: str) -> None:
    """The fleet keeps a watchdog of its own between two slices: the job cancelled there, it gives up the records of
    the running instances (expires 0, their power to put back kept) and ends; no module of the job is left."""
    from ansible_collections.zenlayer.cloud.plugins.module_utils._lease import lease_file  # pylint: disable=import-outside-toplevel
    from ansible_collections.zenlayer.cloud.plugins.module_utils._record import decode_record  # pylint: disable=import-outside-toplevel

    running = (RUNNING_ID, "ins-fra-app-0001")
    task = {"name": "fleet", "zenlayer.cloud.zenlayer_image_fleet": FLEET_ARGS}
    with harness.Emulator(secret_seed(timings={"stop_seconds": 5, "start_seconds": 5, "image_seconds": 3600}),
                          time_scale=module_time_scale(harness)) as emu:
        command = playbook_command(emu, [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}], tmp_path)
        playbook = subprocess.Popen(command, env=ansible_env(emu, collections_root, tmp_path), cwd=str(tmp_path),  # pylint: disable=consider-using-with
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        worker = None
        try:
            emu.wait_for(lambda: len(emu.images(name="fleet-app")) == 1, timeout=180)
            owner = decode_record(emu.tags(RUNNING_ID)[RECORD_KEY])["owner"]
            worker = _stop_between_two_slices(playbook, owner, time.monotonic() + 120)
            assert os.path.exists(lease_file(owner, "fleet")), "no watchdog watches the run between two slices"
            os.killpg(playbook.pid, getattr(signal, signal_name))
            time.sleep(0.5)
            os.kill(worker, signal.SIGCONT)
            output = playbook.communicate(timeout=120)[0].decode("utf-8", "replace")
        finally:
            if worker is not None and os.path.exists("/proc/%d" % worker):
                os.kill(worker, signal.SIGCONT)
            if playbook.poll() is None:
                os.killpg(playbook.pid, signal.SIGKILL)
                playbook.wait()
        assert playbook.returncode != 0 and "PLAY RECAP" not in output, output
        assert re.search(r"^zenlayer_image_fleet: 0/4 AVAILABLE, ", output, re.MULTILINE), output

        def given_up() -> bool:
            records = [decode_record((emu.tags(instance_id) or {}).get(RECORD_KEY)) for instance_id in running]
            return all(record and record["expires"] == 0 for record in records)

        assert emu.wait_for(given_up, timeout=30), {instance_id: emu.tags(instance_id) for instance_id in running}
        for instance_id in running:
            left = decode_record(emu.tags(instance_id)[RECORD_KEY])
            assert left["owner"] == owner and left["power"] == "running", left
        assert emu.wait_for(lambda: not glob.glob(glob.escape(lease_file(owner, "fleet")) + "*"), timeout=10), \
            "the watchdog did not end, or left its files"
        assert _holders(owner) == [], "a module of the cancelled job still runs"
