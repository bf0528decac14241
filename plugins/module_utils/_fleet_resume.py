# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where a run of zenlayer_image_fleet stands at the end of a slice (see _progress.py), and how the next slice takes
it up: every member's fields, the run's timers and flags, the pacer's bucket. JSON data only.

A clock's monotonic instants mean nothing in another process (the emulator's scaled clock even differs between two),
so every instant is kept as the seconds from the slice's end to it (negative for one past), and put back on the next
slice's clock less the time it was away: a deadline or a poll comes when it would have come in one piece."""

from __future__ import annotations

import math
from typing import Any

# The fields of a Member (_fleet.py) and of a FleetRun (_fleet_run.py) that hold monotonic instants.
MEMBER_INSTANTS = ("deadline", "created_at", "not_before")
RUN_INSTANTS = ("_next_status", "_next_images", "_next_creating_status", "_status_since", "_images_since", "_cycle_started")
RUN_FIELDS = ("tags_allowed", "_settling", "_status_wanted", "_image_poll_calls", "_poll_errors")
PACER_FIELDS = ("rate", "throttled_count", "_tokens")
PACER_INSTANTS = ("_last", "_slowed_at")


def seconds_from(instant: float | None, now: float) -> float | None:
    """An instant as the seconds from `now` to it; None for none (or minus infinity: "never")."""
    return None if instant is None or not math.isfinite(instant) else instant - now


def instant_of(left: Any, now: float, away: float, never: float | None = None) -> float | None:
    """The instant `left` seconds after the last slice's end, on this slice's clock (`now`, `away` seconds later)."""
    return never if left is None else now + float(left) - away


def member_to_resume(member: Any, now: float) -> dict[str, Any]:
    state = dict(vars(member))
    for field in MEMBER_INSTANTS:
        state[field] = seconds_from(state[field], now)
    return state


def member_from_resume(member: Any, state: dict[str, Any], now: float, away: float) -> None:
    """Take up a member's state; ValueError when it is not this member's (the resume of another task)."""
    if state.get("instance_id") != member.instance_id or state.get("name") != member.name:
        raise ValueError("the resume is of other instances")
    for field in vars(member):
        if field in MEMBER_INSTANTS:
            setattr(member, field, instant_of(state[field], now, away, None if field == "created_at" else 0.0))
        elif field in state:
            setattr(member, field, state[field])


def run_to_resume(run: Any, now: float) -> dict[str, Any]:
    state = {field: getattr(run, field) for field in RUN_FIELDS}
    state.update({field: seconds_from(getattr(run, field), now) for field in RUN_INSTANTS})
    state["members"] = [member_to_resume(member, now) for member in run.members]
    return state


def run_from_resume(run: Any, state: dict[str, Any], now: float, away: float) -> None:
    members = state["members"]
    if len(members) != len(run.members):
        raise ValueError("the resume is of other instances")
    for member, member_state in zip(run.members, members):
        member_from_resume(member, member_state, now, away)
    for field in RUN_FIELDS:
        setattr(run, field, state[field])
    run._poll_errors = {str(kind): str(why) for kind, why in dict(run._poll_errors).items()}  # pylint: disable=protected-access
    for field in RUN_INSTANTS:
        setattr(run, field, instant_of(state[field], now, away, 0.0))


def pacer_to_resume(pacer: Any, now: float) -> dict[str, Any]:
    """The bucket as it is: a fresh one would let a burst through at every slice's start, and forget a lowered rate."""
    state = {field: getattr(pacer, field) for field in PACER_FIELDS}
    state.update({field: seconds_from(getattr(pacer, field), now) for field in PACER_INSTANTS})
    return state


def pacer_from_resume(pacer: Any, state: dict[str, Any], now: float, away: float) -> None:
    pacer.rate = min(pacer.ceiling, max(0.0, float(state["rate"]))) or pacer.ceiling
    pacer.throttled_count = int(state["throttled_count"])
    pacer._tokens = min(pacer.burst, float(state["_tokens"]))  # pylint: disable=protected-access
    pacer._last = instant_of(state["_last"], now, away, now)  # pylint: disable=protected-access
    pacer._slowed_at = instant_of(state["_slowed_at"], now, away, float("-inf"))  # pylint: disable=protected-access
