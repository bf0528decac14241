# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress while zenlayer_image_fleet waits (issue 22): the fleet run in slices the way its action plugin runs it
(utils.run_sliced: each slice a new run of the module, called with the JSON resume of the last), in-process against
the emulator.

* Resume round-trip: a fleet run in slices gives the result of the same run in one piece (`changed`, `outcomes`,
  `failed_keys`, `recorded`, `throttled`, the message), makes the same calls (at most one more per slice), its power
  records held and renewed across slices under one owner (a generated one too).
* A cancel during a resumed slice gives up the records that slice took up from the last one (their power kept).
* The progress line: the members seen AVAILABLE of all, then the others' statuses, the time waited of wait_timeout;
  one when the cycle's wait starts, then at least one per 60 s of waiting.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._progress import progress_line
from ansible_collections.zenlayer.cloud.plugins.module_utils._record import RECORD_TAG_KEY, decode_record
from ansible_collections.zenlayer.cloud.plugins.modules import zenlayer_image_fleet
from ansible_collections.zenlayer.cloud.tests.unit.plugins.modules.utils import fleet_result, run_module, run_sliced

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "emulator"))
from harness import POWER_RECORD_TAG, record_writes  # noqa: E402  pylint: disable=wrong-import-position,import-error

SLICE = 45.0  # the action plugin's slice (module_utils._progress.DEFAULT_SLICE_SECONDS)
LINE = re.compile(r"zenlayer_image_fleet: (\d+)/(\d+) AVAILABLE(?:, (?:\d+ [A-Z_]+(?:, )?)+)? - (?:\d+[hms] ?)+ of 30m, "
                  r"\d+ polls?")


def fleet_seed(count: int, image_seconds: int = 60) -> dict:
    """The default seed's keys and zones, `count` instances over two zones, every fifth STOPPED."""
    with open(Path(__file__).parents[3] / "emulator" / "seeds" / "default.json", encoding="utf-8") as handle:
        seed = json.load(handle)
    seed["instances"] = [{"instanceId": "ins-fp-%03d" % n, "zoneId": ("HKG-A", "FRA-A")[n % 2], "instanceName": "fp-%03d" % n,
                          "instanceStatus": "STOPPED" if n % 5 == 4 else "RUNNING", "systemDiskSize": 20}
                         for n in range(count)]
    return dict(seed, images=[], image_quota=count + 10,
                timings={"stop_seconds": 10, "start_seconds": 10, "image_seconds": image_seconds})


def fleet_args(count: int, **more: Any) -> dict:
    return dict(more, instances=[{"instance_id": "ins-fp-%03d" % n, "name": "fp-%03d-golden" % n} for n in range(count)])


def fresh(emulator_factory: Callable[..., Any], monkeypatch: Any, **options: Any) -> Any:
    emu = emulator_factory(**options)
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    return emu


def one_piece_and_sliced(emulator_factory: Callable[..., Any], monkeypatch: Any, capsys: Any, args: dict,
                         arrange: Callable[[Any], None], slice_seconds: float, **emulator: Any) -> tuple[tuple, tuple]:
    """The same fleet run in one piece, then in slices, each on a fresh emulator arranged the same way:
    ((result, requests), (result, requests, progress))."""
    emu = fresh(emulator_factory, monkeypatch, **emulator)
    arrange(emu)
    whole = run_module(zenlayer_image_fleet.main, capsys, args)
    whole_requests = emu.requests()
    emu = fresh(emulator_factory, monkeypatch, **emulator)
    arrange(emu)
    sliced, progress = run_sliced(zenlayer_image_fleet.main, capsys, args, slice_seconds)
    return (whole, whole_requests), (sliced, emu.requests(), progress)


def write_counts(requests: list[dict]) -> dict[str, int]:
    """The writes performed that a run's timing cannot change (a StartInstances may be sent again when it came to
    nothing; the records are written at the same time, so how many more are sent after one is denied varies)."""
    counts: dict[str, int] = {}
    for entry in without_renewals(requests):
        if entry["action"] in ("CreateImage", "StopInstances", "ModifyResourceTags") and entry["performed"]:
            counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    return counts


def test_the_harness_reads_the_power_record_the_modules_write():
    assert POWER_RECORD_TAG == RECORD_TAG_KEY, "record_writes() (tests/emulator/harness.py) would find no record"


def without_renewals(requests: list[dict]) -> list[dict]:
    """The requests but the records' renewals, which come as late as the run's load makes it."""
    renewals = {id(entry) for entry, kind, _record in record_writes(requests) if kind == "renewed"}
    return [entry for entry in requests if id(entry) not in renewals]


# The calls whose count goes by the time: the polls (every 0.5 s to 15 s), and the starts (one per 100 instances whose
# images settled since the last poll). The images are polled every second or so while they are made: a pause, then the
# calls' own time, which a loaded machine stretches (and this time scale four times over). So two runs differ by the
# polls that their loads fit in: up to 4 and a twentieth of them on an even load, and, when one run was slower than
# the other, the share by which its polls of the images came further apart (measured: 40 calls of 248 in make check,
# whose unit test groups run side by side at a load of 16; 26 of 286 with a load of 14 during the run in one piece
# only, whose image polls came 13 % further apart). A resume that began the schedule again would poll every 0.5 s
# again: 20 to 30 polls more per slice, with the images' polls as far apart as before.
POLLS = ("DescribeInstancesStatus", "DescribeImages", "StartInstances")


def image_poll_gap(requests: list[dict]) -> float:
    """The median time between two polls of the images (a poll reads each zone: calls less than 150 ms apart, 0.6 s of
    this clock, are one)."""
    times = sorted(entry["ts"] for entry in requests if entry["action"] == "DescribeImages")
    polls = [later for earlier, later in zip(times, times[1:]) if later - earlier > 0.15]
    gaps = sorted(later - earlier for earlier, later in zip(polls, polls[1:]))
    return gaps[len(gaps) // 2] if gaps else 1.0


def poll_noise(whole: list[dict], sliced: list[dict]) -> int:
    polls = sum(entry["action"] in POLLS for entry in whole)
    slower = max(0.0, image_poll_gap(whole) / image_poll_gap(sliced) - 1.0)  # the run in one piece, than the sliced one
    return 4 + polls // 20 + int(polls * slower)


def _refused_record(entry: dict) -> bool:
    """A record write the API refused (a key that may not tag): the records are written at the same time, so how many
    are sent before the first refusal stops the others varies from run to run."""
    return entry["action"] == "ModifyResourceTags" and not entry["performed"]


def not_polls(requests: list[dict]) -> dict[str, int]:
    """The calls of a run but its polls and starts (the looks, the other writes), by action; refused records and
    renewals left out."""
    counts: dict[str, int] = {}
    for entry in without_renewals(requests):
        counts[entry["action"]] = counts.get(entry["action"], 0) + (entry["action"] not in POLLS and not _refused_record(entry))
    return {action: count for action, count in counts.items() if count}


# -- the resume round-trip: the same cells in one piece and in slices of 0 s (a slice ends before every pause) --------

RUNNING_ID, STOPPED_ID, FRA_ID = "ins-hkg-web-0001", "ins-hkg-db-0001", "ins-fra-app-0001"
THREE = {"instances": [{"instance_id": RUNNING_ID, "name": "fp-web"}, {"instance_id": STOPPED_ID, "name": "fp-db"},
                       {"instance_id": FRA_ID, "name": "fp-app", "key": "app"}]}


def _nothing(_emu: Any) -> None:
    pass


def _earlier_jobs_record(emu: Any) -> None:
    now = int(emu.now())
    emu.patch(instances={RUNNING_ID: {"instanceStatus": "STOPPED", "tags": [
        {"key": RECORD_TAG_KEY, "value": "running.%d.%d.job-gone" % (now - 400, now - 100)}]}})


def _image_of_the_name_being_made(emu: Any) -> None:
    emu.patch(images={"img-fp-db": {"imageName": "fp-db", "zoneId": "HKG-A", "imageStatus": "CREATING",
                                    "pending": {"to": "AVAILABLE", "at": time.time() + 40 * emu.time_scale}}})


CELLS = {
    "three instances": (_nothing, {}),
    "an earlier job's record put back first": (_earlier_jobs_record, {}),
    "an image of the name being made is waited for": (_image_of_the_name_being_made, {}),
    "a key that may not tag": (lambda emu: emu.patch(tag_denied_keys=[emu.credentials.access_key_id]), {}),
    "a lost CreateImage answer": (lambda emu: emu.add_faults({"action": "CreateImage", "kind": "performed_drop"}), {}),
    "CreateImage throttled twice": (lambda emu: emu.add_faults({"action": "CreateImage", "kind": "throttle", "times": 2,
                                                                "retry_after": 1}), {"rate_limit": 5}),
    "one fails alone, the rest left stopped under a given owner": (_nothing, {
        "power_after": "stopped", "owner": "job-42",
        "instances": THREE["instances"] + [{"instance_id": "ins-sin-app-0001", "name": "fp-sin"}]}),
}


@pytest.mark.parametrize("cell", list(CELLS))
def test_a_fleet_in_slices_gives_the_result_of_the_fleet_in_one_piece(emulator_factory, monkeypatch, capsys, cell):
    arrange, more = CELLS[cell]
    (whole, whole_calls), (sliced, sliced_calls, progress) = one_piece_and_sliced(
        emulator_factory, monkeypatch, capsys, dict(THREE, **more), arrange, 0.0)
    assert fleet_result(sliced) == fleet_result(whole)
    # a slice of 0 s ends at the cycle's first pause, and again whenever the module was away for less than the pause
    # (on a loaded machine, at this time scale, it may not be)
    assert progress, "no slice ended at the cycle's first pause"
    assert write_counts(sliced_calls) == write_counts(whole_calls)
    # the polls follow the clock, which a loaded machine moves on by seconds between two slices of 0 s at this time
    # scale; the calls per slice are measured on the defaults' 45 s slices below and in the benchmark (section 9)
    assert not_polls(sliced_calls) == not_polls(whole_calls), "a resumed slice looked again, or wrote otherwise"


# -- a fleet of 30 in the action plugin's slices -----------------------------------------------------------------------


@pytest.mark.long
@pytest.mark.emulator(time_scale=0.25)
def test_thirty_instances_in_slices_make_the_calls_and_the_result_of_one_piece_with_a_line_every_minute(
        emulator_factory, monkeypatch, capsys):
    (whole, whole_calls), (sliced, sliced_calls, progress) = one_piece_and_sliced(
        emulator_factory, monkeypatch, capsys, fleet_args(30), _nothing, SLICE, seed=fleet_seed(30, 90), time_scale=0.25)
    assert not whole.get("failed") and fleet_result(sliced) == fleet_result(whole)
    assert write_counts(sliced_calls) == write_counts(whole_calls) == {"ModifyResourceTags": 48, "StopInstances": 1,
                                                                       "CreateImage": 30}
    assert not_polls(sliced_calls) == not_polls(whole_calls), "a resumed slice looked again, or wrote otherwise"
    assert len(without_renewals(sliced_calls)) <= len(without_renewals(whole_calls)) + len(progress) + \
        poll_noise(whole_calls, sliced_calls), "more than one call more per slice"
    lines = [progress_line("zenlayer_image_fleet", shown) for shown in progress]
    assert all(LINE.fullmatch(line) for line in lines), lines
    assert lines[0].startswith("zenlayer_image_fleet: 0/30 AVAILABLE, 24 RUNNING, 6 CREATING - "), \
        "the first line when the cycle's wait starts: the stops sent, the stopped ones' images being made"
    waited = [shown["waited"] for shown in progress]
    # the statuses of the first line (none stopped yet) date it to the cycle's first pause; its time would not (the
    # records and the stop before it take seconds, which a loaded machine stretches, and this time scale four times)
    assert all(0 < later - earlier <= 60 for earlier, later in zip(waited, waited[1:])), waited
    assert waited[-1] >= 90 - 60, "a line at least every 60 s until the images are seen AVAILABLE: %s" % waited
    assert [int(LINE.fullmatch(line).group(1)) for line in lines] == sorted(int(LINE.fullmatch(line).group(1)) for line in lines)
    assert not {"resume", "progress"} & set(sliced) and "progress_slice" not in sliced["invocation"]["module_args"]


# -- the owner and its records across slices ---------------------------------------------------------------------------


def lapses(emu: Any, instance_id: str) -> list[tuple[float, float]]:
    """(when it ran out, when the next write came) of each power record on the instance that ran out before the next
    write of it, read from the emulator's request log in the emulator's time (a test's own look between two slices
    comes as late as a loaded machine makes it; the log does not)."""
    found, expires = [], 0.0
    for entry, _kind, record in emu.record_writes():
        if entry["body"].get("resourceUuid") != instance_id:
            continue
        written = emu.now(entry["ts"])
        if 0 < expires < written:
            found.append((expires, written))
        expires = record["expires"] if record else 0.0
    return found


# The record's lease is renewed when less than a third of it is left, at the module's polls (every 15 s or less):
# a lease of 60 s can come within 5 s of running out. On the default 0.05 clock that is a quarter of a real second,
# which a loaded machine's pause outlasts; on 0.2, a second.
@pytest.mark.long
@pytest.mark.emulator(time_scale=0.2)
def test_one_generated_owner_holds_and_renews_the_records_across_slices(emulator_env, capsys):
    """A lease of 60 s over an image of 200 s: every slice writes and renews the records under the same owner (the
    one the first slice generated), from the records the last slice held (not read again); no record runs out."""
    emulator_env.patch(timings={"image_seconds": 200})
    owners = set()

    def between(_slice: int) -> None:
        records = [decode_record(emulator_env.tags(instance_id).get(RECORD_TAG_KEY)) for instance_id in (RUNNING_ID, FRA_ID)]
        owners.update(record["owner"] for record in records if record)

    result, progress = run_sliced(zenlayer_image_fleet.main, capsys, dict(THREE, lease=60), SLICE, between=between)
    assert not result.get("failed") and result["recorded"] is True and len(progress) >= 4
    assert len(owners) == 1 and re.fullmatch(r"fleet-[0-9a-f]{12}", owners.pop()), "one owner in every slice"
    assert {i: lapses(emulator_env, i) for i in (RUNNING_ID, FRA_ID)} == {RUNNING_ID: [], FRA_ID: []}, \
        "a record's lease ran out before it was renewed"
    renewals = len(emulator_env.requests("ModifyResourceTags")) - 2 * 2  # a record and its removal per running instance
    assert renewals >= 2 * 3, "two records of 60 s over 200 s of waiting are renewed every 40 s or less"
    assert emulator_env.requests("DescribeResourceTags") == [], "the records held are carried, never read again"
    assert not any(RECORD_TAG_KEY in emulator_env.tags(i) for i in (RUNNING_ID, STOPPED_ID, FRA_ID))


def test_a_cancel_during_a_resumed_slice_gives_up_the_records_it_took_up(emulator_env, capsys):
    """The records were written by the first slice; the third, resumed, is cancelled (SIGINT) while it waits: it
    gives them up (expires 0, the power to put back kept) as a run in one piece does."""
    emulator_env.patch(timings={"image_seconds": 600})

    def between(done: int) -> None:
        if done == 2:  # the third slice starts at once and waits for the images: cancel it meanwhile
            threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

    result, progress = run_sliced(zenlayer_image_fleet.main, capsys, THREE, SLICE, between=between)
    assert len(progress) == 2 and result["failed"] is True and result["changed"] is True
    assert "cancelled by SIGINT" in result["msg"] and "given up" in result["msg"], result["msg"]
    records = {instance_id: decode_record(emulator_env.tags(instance_id).get(RECORD_TAG_KEY)) for instance_id in (RUNNING_ID, FRA_ID)}
    assert all(record and record["expires"] == 0 and record["power"] == "running" and record["owner"].startswith("fleet-")
               for record in records.values()), records
