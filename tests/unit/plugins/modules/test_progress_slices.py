# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress while a module waits (issue 22): zenlayer_image, zenlayer_image_line and zenlayer_instance_power run in
slices the way their action plugin runs them (plugins/plugin_utils/_sliced.py: utils.run_sliced), in-process against
the emulator.

* Parity: every decision cell of test_check_mode_parity.py (and the unknown-outcome cells of the write fault matrix)
  run in one piece and in slices of 0 s (a slice ends before every pause: the most resumes a run can have), each on a
  fresh emulator, give the same `changed`, failure and message, result and diff.
* Calls: a resumed slice makes no look the slice before it made: the calls of a run in slices are those of a run in
  one piece (at most one more per slice), its polls at the same times.
* Progress: one line when a wait starts, then at least every 60 s of waiting, each naming what is awaited and its
  status; nothing of it in the result.
* Leases: the power records are renewed across slices and each slice says it works under them while it runs.
"""

from __future__ import annotations

import glob
import os
import re
import threading
import time
from typing import Any, Callable

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils import _lease
from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import progress_line
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY, decode_record
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image, zenlayer_image_line, zenlayer_instance_power
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules import test_check_mode_parity as cells
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import normalized, on_request, run_module, run_sliced, writes

STOPPED_ID = "ins-hkg-db-0001"
RUNNING_ID = "ins-hkg-web-0001"
SLICE = 45.0  # the action plugin's slice (module_utils._progress.DEFAULT_SLICE_SECONDS)


def fresh(emulator_factory: Callable[..., Any], monkeypatch: Any, **options: Any) -> Any:
    emu = emulator_factory(**options)
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    return emu


# The parity cells hold a CREATING image for an hour (test_check_mode_parity.HELD_SECONDS); here it is done this many
# seconds (of the emulator's time) after the cell is arranged: both runs wait for it through several polls, the sliced
# one across slices, and neither sleeps out the 30 minutes of wait_timeout.
CREATING_DONE_SECONDS = 150.0


def done_in_a_while(emu: Any, wait_timeout: float | None = None) -> None:
    """A cell whose wait_timeout is shorter times out before the image is done: there the image stays CREATING for
    twice as long (300 s against 120), so that a run a loaded machine slowed past the timeout still sees it CREATING
    and names it in its message as the other run does (a CI run's one-piece run looked after the image was done)."""
    seconds = CREATING_DONE_SECONDS
    if wait_timeout is not None and wait_timeout < CREATING_DONE_SECONDS:
        seconds = 2 * CREATING_DONE_SECONDS
    emu.finish_images([image["imageId"] for image in emu.images() if image["imageStatus"] == "CREATING"],
                      at=time.time() + seconds * emu.time_scale)


def one_piece_and_sliced(emulator_factory: Callable[..., Any], monkeypatch: Any, capsys: Any,
                         main: Callable[[], None], args: dict, arrange: Callable[[Any], None],
                         slice_seconds: float = 0.0, **emulator: Any) -> tuple[dict, dict, list[dict]]:
    """The same cell run in one piece, then in slices, each on a fresh emulator arranged the same way. Without wait,
    what a run's writes set moving stays moving until the run has read it (an hour of the emulator's time, as in
    test_check_mode_parity), however slowly a loaded machine runs it."""
    def arrange_fresh() -> None:
        emu = fresh(emulator_factory, monkeypatch, **emulator)
        arrange(emu)
        done_in_a_while(emu, args.get("wait_timeout"))
        if args.get("wait") is False:
            emu.patch(timings={"stop_seconds": 3600, "start_seconds": 3600, "image_seconds": 3600})

    arrange_fresh()
    whole = run_module(main, capsys, args, diff=True)
    arrange_fresh()
    sliced, progress = run_sliced(main, capsys, args, slice_seconds, diff=True)
    return whole, sliced, progress


# -- parity: the same cells in one piece and in slices ----------------------------------------------------------------

POWER_CELLS = {"%s from %s" % (state, status): (lambda emu, status=status: cells.put_instance(emu, RUNNING_ID, status),
                                                {"instance_ids": [RUNNING_ID], "state": state, "wait_timeout": 120})
               for state in cells.POWER_STATES for status in cells.POWER_STATUSES}
POWER_CELLS["restart two, one stopped"] = (cells._nothing, {"instance_ids": [RUNNING_ID, STOPPED_ID], "state": "restarted"})
POWER_CELLS["stop two, no wait"] = (cells._nothing, {"instance_ids": [RUNNING_ID, "ins-hkg-web-0002"], "state": "stopped",
                                                     "wait": False})


@pytest.mark.parametrize("cell", list(cells.IMAGE_CELLS))
def test_image_in_slices_is_the_run_in_one_piece(emulator_factory, monkeypatch, capsys, cell):
    arrange, args = cells.IMAGE_CELLS[cell]
    whole, sliced, _progress = one_piece_and_sliced(emulator_factory, monkeypatch, capsys, zenlayer_image.main, args, arrange)
    assert normalized(sliced) == normalized(whole)


@pytest.mark.parametrize("cell", list(cells.LINE_CELLS))
def test_image_line_in_slices_is_the_run_in_one_piece(emulator_factory, monkeypatch, capsys, cell):
    arrange, args = cells.LINE_CELLS[cell]
    whole, sliced, _progress = one_piece_and_sliced(emulator_factory, monkeypatch, capsys, zenlayer_image_line.main, args,
                                                    arrange)
    assert normalized(sliced) == normalized(whole)


@pytest.mark.parametrize("cell", list(POWER_CELLS))
def test_power_in_slices_is_the_run_in_one_piece(emulator_factory, monkeypatch, capsys, cell):
    arrange, args = POWER_CELLS[cell]
    whole, sliced, _progress = one_piece_and_sliced(emulator_factory, monkeypatch, capsys, zenlayer_instance_power.main,
                                                    args, arrange)
    assert normalized(sliced) == normalized(whole)


# A write whose answer is lost is looked for (its own wait) until the deadline: resumed across slices too.
FAULT_CELLS = {
    "CreateImage answer lost": (zenlayer_image.main, {"instance_id": STOPPED_ID, "name": "made"}, "CreateImage",
                                {"kind": "performed_drop"}),
    "CreateImage 503, not done": (zenlayer_image.main, {"instance_id": STOPPED_ID, "name": "made"}, "CreateImage",
                                  {"kind": "error", "status": 503, "code": "SERVICE_TEMPORARY_UNAVAILABLE"}),
    "RebootInstances answer lost": (zenlayer_instance_power.main, {"instance_ids": [RUNNING_ID], "state": "restarted"},
                                    "RebootInstances", {"kind": "performed_drop"}),
    "RebootInstances 503, not done": (zenlayer_instance_power.main, {"instance_ids": [RUNNING_ID], "state": "restarted"},
                                      "RebootInstances", {"kind": "error", "status": 503,
                                                          "code": "SERVICE_TEMPORARY_UNAVAILABLE"}),
    "StopInstances answer lost": (zenlayer_instance_power.main, {"instance_ids": [RUNNING_ID], "state": "stopped"},
                                  "StopInstances", {"kind": "performed_drop"}),
}


@pytest.mark.long
@pytest.mark.emulator(time_scale=0.01)
@pytest.mark.parametrize("cell", list(FAULT_CELLS))
def test_unknown_outcome_in_slices_is_the_run_in_one_piece(emulator_factory, monkeypatch, capsys, cell):
    main, args, action, fault = FAULT_CELLS[cell]

    def arrange(emu: Any) -> None:
        emu.add_faults(dict(fault, action=action, times=1))
        emu.patch(timings={"stop_seconds": 20, "start_seconds": 20})  # a restart the looks cannot miss

    whole, sliced, progress = one_piece_and_sliced(emulator_factory, monkeypatch, capsys, main, args, arrange,
                                                   time_scale=0.01, extra_args=["--async-lag", "2"])
    assert normalized(sliced) == normalized(whole)
    assert progress, "the look for the write's effect is a wait: it reports progress"


# -- calls per run ---------------------------------------------------------------------------------------------------

def _calls(emu: Any) -> list[tuple[str, float]]:
    """(action, seconds of the emulator's time after the first write) of every request (the clocks are one)."""
    requests = emu.requests()
    first = next((entry["ts"] for entry in requests if entry["action"] in writes_of(requests)), requests[0]["ts"])
    return [(entry["action"], (entry["ts"] - first) / emu.time_scale) for entry in requests]


def _gaps(calls: list[tuple[str, float]]) -> list[float]:
    return [later - earlier for (_action, earlier), (_next, later) in zip(calls, calls[1:])]


def writes_of(requests: list[dict]) -> set[str]:
    return {entry["action"] for entry in requests if entry["action"] in ("CreateImage", "StopInstances")}


def end_in(emu: Any, kind: str, to: str, seconds: float) -> None:
    """Each of `kind` ('instances' or 'images') pending to `to` gets there `seconds` of the emulator's time from now."""
    at, key = time.time() + seconds * emu.time_scale, {"instances": "instanceId", "images": "imageId"}[kind]
    emu.patch(**{kind: {item[key]: {"pending": {"to": to, "at": at}} for item in emu.state()[kind]
                        if (item.get("pending") or {}).get("to") == to}})


# 0.25, not 0.1: the gaps between polls are compared within 4 emulator seconds, which a loaded machine's delays must
# not use up. The end comes half a gap after the answer to the poll before it (image: polls every 15 s, the 8th
# DescribeImages, the first being the look for the image, about 92 s after CreateImage; power: every 10 s from 31 s, the
# 13th at about 91 s), so that the same poll sees it in both runs. Reckoned from that poll, not from the write: the
# calls' own time, which a loaded machine stretches, adds up over a run and could carry a poll past an end fixed in
# advance, so that one run saw the end a poll before the other.
@pytest.mark.long
@pytest.mark.emulator(time_scale=0.25)
@pytest.mark.parametrize("module, args, end", [
    ("zenlayer_image", {"instance_id": STOPPED_ID, "name": "web"}, ("DescribeImages", 8, "images", "AVAILABLE", 7.5)),
    ("zenlayer_instance_power", {"instance_ids": [RUNNING_ID], "state": "stopped"},
     ("DescribeInstancesStatus", 13, "instances", "STOPPED", 5.0)),
], ids=["image of about 100 s", "stop of about 96 s"])
def test_a_run_in_slices_makes_the_calls_of_a_run_in_one_piece(emulator_factory, monkeypatch, capsys, module, args,
                                                               end):
    """The same calls, and the polls at the same times (the time between two slices is taken out of the pause it
    interrupted). A resume that polled at once, or began the schedule again, moves the polls in every run; a machine
    that stalls one run (seen once in a fresh-clone `make test`: one poll 41 emulator seconds, 10 real seconds, late)
    moves them in that run only, so a pair whose polls moved is run once more, and the second pair decides."""
    for attempt in (1, 2):
        whole, sliced, progress, calls_whole, calls_sliced = _whole_and_sliced(emulator_factory, monkeypatch, capsys,
                                                                               module, args, end)
        assert normalized(sliced) == normalized(whole) and not whole.get("failed")
        assert len(progress) >= 3, "a wait of about 100 s in slices of 45 s"
        assert len(calls_sliced) <= len(calls_whole) + len(progress), "more than one call more per slice"
        assert [action for action, _at in calls_sliced] == [action for action, _at in calls_whole]
        moved = _moved_polls(calls_whole, calls_sliced)
        if not moved:
            return
    assert not moved, "polls moved by the slices in both pairs of runs (call, emulator seconds since the call before, " \
        "whole and sliced): %s" % moved


def _whole_and_sliced(emulator_factory: Callable[..., Any], monkeypatch: Any, capsys: Any, module: str, args: dict,
                      end: tuple) -> tuple:
    """The run in one piece, then in slices, each on a fresh emulator whose end comes at the same poll:
    (whole, sliced, progress, calls of the whole run, calls of the sliced run)."""
    main = {"zenlayer_image": zenlayer_image.main, "zenlayer_instance_power": zenlayer_instance_power.main}[module]
    poll, number, kind, to, seconds = end
    later = {"image_seconds": 300, "stop_seconds": 300}  # the emulator's own end, after the one set at the poll
    emu_whole = fresh(emulator_factory, monkeypatch, time_scale=0.25)
    emu_whole.patch(timings=later)
    with on_request(poll, lambda: end_in(emu_whole, kind, to, seconds), nth=number, when="after"):
        whole = run_module(main, capsys, args, diff=True)
    emu_sliced = fresh(emulator_factory, monkeypatch, time_scale=0.25)
    emu_sliced.patch(timings=later)
    with on_request(poll, lambda: end_in(emu_sliced, kind, to, seconds), nth=number, when="after"):
        sliced, progress = run_sliced(main, capsys, args, SLICE, diff=True)
    return whole, sliced, progress, _calls(emu_whole), _calls(emu_sliced)


def _moved_polls(calls_whole: list[tuple[str, float]], calls_sliced: list[tuple[str, float]]) -> list[tuple]:
    """(call, gap in the whole run, gap in the sliced run) of each call more than 4 emulator seconds off. Gap by gap,
    not from the write: a loaded machine adds the calls' own time to every gap of both runs, which adds up over a run;
    a resume that polled at once, or began the schedule again, moves its gaps by seconds."""
    return [(action, round(gap_whole, 1), round(gap_sliced, 1)) for action, gap_whole, gap_sliced
            in zip([action for action, _at in calls_whole[1:]], _gaps(calls_whole), _gaps(calls_sliced))
            if abs(gap_sliced - gap_whole) > 4]


# -- the progress itself -----------------------------------------------------------------------------------------------


def test_image_progress_lines_name_the_image_its_status_and_come_every_minute(emulator_env, capsys):
    emulator_env.patch(timings={"image_seconds": 200})
    result, progress = run_sliced(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web-golden"}, SLICE,
                                  diff=True)
    image_id = result["image"]["image_id"]
    lines = [progress_line("zenlayer_image", shown) for shown in progress]
    assert lines[0] == "zenlayer_image: web-golden (%s) CREATING - 0s of 30m, 0 polls" % image_id, "the wait starts"
    assert all(re.fullmatch(r"zenlayer_image: web-golden \(%s\) CREATING - (\d+m )?\d+s of 30m, \d+ polls?" % image_id, line)
               for line in lines), lines
    waited = [shown["waited"] for shown in progress]
    assert waited == sorted(waited) and all(later - earlier <= 60 for earlier, later in zip(waited, waited[1:])), waited
    assert waited[-1] >= 200 - 60, "a line at least every 60 s until the image is seen AVAILABLE: %s" % waited
    assert [shown["polls"] for shown in progress] == sorted(shown["polls"] for shown in progress)
    assert not {"resume", "progress", "progress_slice"} & (set(result) | set(result["invocation"]["module_args"]))
    assert result["changed"] is True and result["image"]["image_status"] == "AVAILABLE"


def test_power_progress_counts_the_instances_per_status(emulator_env, capsys):
    emulator_env.patch(timings={"stop_seconds": 30})
    emulator_env.patch(instances={"ins-hkg-web-0002": {"instanceStatus": "STOPPED"}})
    ids = [RUNNING_ID, "ins-hkg-web-0002", "ins-fra-app-0001"]
    result, progress = run_sliced(zenlayer_instance_power.main, capsys, {"instance_ids": ids, "state": "stopped"}, SLICE)
    lines = [progress_line("zenlayer_instance_power", shown) for shown in progress]
    assert re.fullmatch(r"zenlayer_instance_power: 2 instances: 2 STOPPING - \ds of 10m, 0 polls", lines[0]), lines
    assert all(line.startswith("zenlayer_instance_power: 2 instances: ") for line in lines), lines
    assert [item["instance_status"] for item in result["instances"]] == ["STOPPED"] * 3
    one, _progress = run_sliced(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "running"},
                                SLICE)
    assert re.fullmatch(r"zenlayer_instance_power: %s BOOTING - \ds of 10m, 0 polls" % RUNNING_ID,
                        progress_line("zenlayer_instance_power", _progress[0]))
    assert one["changed"] is True


def test_check_mode_runs_in_one_piece(emulator_env, capsys):
    emulator_env.patch(images={"img-web": {"imageName": "web", "zoneId": "HKG-A", "imageStatus": "CREATING",
                                           "pending": {"to": "AVAILABLE", "at": time.time() + 2}}})
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web", "progress_slice": 0},
                        check_mode=True)
    assert "resume" not in result and "progress" not in result and result["image"]["image_status"] == "AVAILABLE"
    refused = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web", "resume": {"format": 1}},
                         check_mode=True)
    assert refused["failed"] is True and "resume is only set by" in refused["msg"]


@pytest.mark.parametrize("resume", [{}, {"format": 1}, {"format": 99, "wait": {}}, {"format": 1, "wait": {"polls": 3}}])
def test_a_resume_not_made_by_the_module_fails_before_any_call(emulator_env, capsys, resume):
    result = run_module(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web", "resume": resume})
    assert result["failed"] is True and "do not set it in a task" in result["msg"]
    assert emulator_env.requests() == []


# -- leases across slices ----------------------------------------------------------------------------------------------


def _holder_files(owner: str) -> list[str]:
    return glob.glob(os.path.join(_lease.lease_dir(), "%s--*.holder-*" % owner))


def test_leases_are_renewed_across_slices_and_each_slice_holds_them_while_it_runs(emulator_env, capsys):
    """A lease of 60 s over an image of 200 s: renewed by the slices (the record they carry, not read again), and a
    holder file exists while a slice runs and is gone between two."""
    owner = "job-slices-%d" % os.getpid()
    emulator_env.patch(timings={"image_seconds": 200})
    record = run_module(zenlayer_instance_power_record_main(), capsys, {"instance_id": STOPPED_ID, "owner": owner,
                                                                        "power": "stopped", "lease": 60})
    assert record["recorded"] is True
    emulator_env.clear_requests()
    seen, stop = set(), threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.update(_holder_files(owner))
            time.sleep(0.005)

    between: list[list[str]] = []
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result, progress = run_sliced(zenlayer_image.main, capsys, {"instance_id": STOPPED_ID, "name": "web",
                                                                    "power_record_owner": owner, "lease": 60}, SLICE,
                                      between=lambda _n: between.append(_holder_files(owner)))
    finally:
        stop.set()
        watcher.join()
    assert not result.get("failed") and len(progress) >= 4
    assert seen, "no slice said it works under the lease (holder file)"
    assert between == [[]] * len(progress), "a holder file outlived its slice"
    renewals = emulator_env.requests("ModifyResourceTags")
    assert len(renewals) >= 3, "a lease of 60 s over 200 s of waiting is renewed every 40 s or less"
    assert len(emulator_env.requests("DescribeResourceTags")) == 1 + len(renewals), \
        "the records are read once at the start, then only by each renewal (not again by every slice)"
    left = decode_record(emulator_env.tags(STOPPED_ID)[RECORD_TAG_KEY])
    assert left["owner"] == owner and left["expires"] > 0


def zenlayer_instance_power_record_main() -> Callable[[], None]:
    from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_instance_power_record  # pylint: disable=import-outside-toplevel
    return zenlayer_instance_power_record.main


def test_no_writes_from_slices_in_check_mode(emulator_env, capsys):
    result, progress = run_sliced(zenlayer_instance_power.main, capsys, {"instance_ids": [RUNNING_ID], "state": "stopped",
                                                                         "_ansible_check_mode": True}, 0)
    assert progress == [] and result["changed"] is True and writes(emulator_env) == []
