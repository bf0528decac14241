# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress while a module waits: the module runs in slices, and its action plugin prints a line between two.

A module can only speak when it exits, so the action plugin of the same name (plugins/plugin_utils/_sliced.py) runs
it with `progress_slice` (seconds): between two polls of any wait (AnsibleZenlayer.between_polls, where leases are
renewed too), the module ends its slice with `SliceEnded` when a wait has just started (its first line) or when its
next poll would come after the slice's end. It then exits with `changed` so far, `resume` (where it stands: the wait
and what it must still report) and `progress` (what it waits for, its status, the time waited of the timeout, the
polls), and the action plugin calls it again with `resume`: the module goes straight back into that wait, without
the look it has already made, and the pause it was about to make is shortened by the time it was away. The calls
and the times of the polls are those of a run in one piece.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Clock, Polls

# Options of every module that reports progress; only its action plugin sets them (doc fragment zenlayer.cloud.progress).
PROGRESS_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "progress_slice": {"type": "float"},
    "resume": {"type": "dict"},
}
# How long one slice of a module lasts at most (seconds, on the module's clock): a line is printed at least this often
# while it waits. Lines are due every 60 s; this leaves room for the polls' own time and starting the module again.
DEFAULT_SLICE_SECONDS = 45.0
RESUME_FORMAT = 1


class SliceEnded(BaseException):
    """The module's slice is over; it exits with where it stands (caught once, in AnsibleZenlayer.run()). A
    BaseException, so that no `except Exception` of the code it passes through takes it for a failure."""


class Waiting:
    """The wait a module is in: its kind (which wait of the module, for the resume), its polls, and a function that
    says what it waits for and that thing's status, as the progress line shows them: ('web (img-1)', 'CREATING')."""

    def __init__(self, kind: str, polls: Polls, describe: Callable[[], tuple[str, str]], announced: bool) -> None:
        self.kind, self.polls, self.describe = kind, polls, describe
        self.announced = announced  # a line already said that this wait started
        self.polls_before = polls.made  # the polls made in earlier slices


class Slice:
    """The slice a module runs in: it ends at the first pause of a wait not announced yet, or, once it has polled
    (so that every slice moves the wait on, whatever `seconds`), before a pause that would end after `seconds`.

    Starting the module again takes time (`away`: the time between the last two slices), which the next slice takes
    out of its length, so that the lines come `seconds` apart, not `seconds` plus that time, and out of the pause it
    ends before. A slice ends only before a pause that this time outlasts by at most a third of `seconds`. On a real
    clock it is a fraction of a second, shorter than any pause, so no poll comes later than in
    one piece; an emulator's scaled clock magnifies it by the scale, and where it outgrows the pauses by more, the
    module goes on in one piece rather than delay its polls."""

    def __init__(self, clock: Clock, seconds: float, away: float = 0.0) -> None:
        self.clock, self.seconds, self.away = clock, max(0.0, seconds), away
        self.ends = clock.monotonic() + self.seconds - away

    def over(self, waiting: Waiting) -> bool:
        if not waiting.announced:
            return True
        pause = waiting.polls.next_pause
        return (waiting.polls.made > waiting.polls_before and self.away - pause <= self.seconds / 3
                and self.clock.monotonic() + pause > self.ends)


def polls_to_resume(polls: Polls, clock: Clock) -> dict[str, Any]:
    # the time since `waited` and the pause were reckoned (the work between two polls) counts as waited, and as
    # part of that pause
    since = max(0.0, clock.monotonic() - polls.measured_at) if polls.measured_at is not None else 0.0
    return {"made": polls.made, "pauses": polls.pauses, "waited": polls.waited + since,
            "next_pause": max(0.0, polls.next_pause - since), "at": clock.time()}


def away(resumed: dict[str, Any], clock: Clock) -> float:
    """The seconds since the slice that wrote `resumed` ended (on the clock's time of day: the runs are processes)."""
    return max(0.0, clock.time() - float(resumed["at"]))


def polls_from_resume(resumed: dict[str, Any], gone: float) -> Polls:
    """The polls of a wait resumed `gone` seconds after its slice ended: that time counts as waited, and is taken out
    of the pause the slice ended before."""
    return Polls(made=int(resumed["made"]), pauses=int(resumed["pauses"]), waited=float(resumed["waited"]) + gone,
                 first_pause=max(0.0, float(resumed["next_pause"]) - gone))


def count_statuses(statuses: list[Any]) -> str:
    """'2 STOPPING, 1 STOPPED': how many are in each status, most first (then by name)."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return ", ".join("%d %s" % (count, status) for status, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def duration(seconds: float) -> str:
    """270 -> '4m 30s', 1800 -> '30m', 40 -> '40s', 3720 -> '1h 2m' (the two largest units, zeros left out)."""
    total = max(0, int(round(seconds)))
    parts = [(total // 3600, "h"), (total % 3600 // 60, "m"), (total % 60, "s")]
    shown = [(value, unit) for value, unit in parts if value]
    return " ".join("%d%s" % part for part in shown[:2]) if shown else "0s"


def progress_line(module: str, progress: dict[str, Any]) -> str:
    """The line the action plugin prints, like 'zenlayer_image: web-golden (img-1) CREATING - 4m 30s of 30m, 9 polls'.

    `progress`: subject (what is awaited), status, waited and timeout (seconds), and polls (left out when None)."""
    what = " ".join(str(part) for part in (progress.get("subject"), progress.get("status")) if part)
    line = "%s: %s - %s of %s" % (module, what, duration(progress.get("waited") or 0), duration(progress.get("timeout") or 0))
    polls = progress.get("polls")
    if polls is not None:
        line += ", %d poll%s" % (polls, "" if polls == 1 else "s")
    return line
