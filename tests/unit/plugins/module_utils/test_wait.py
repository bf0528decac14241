# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/_wait.py: poll_until on an injected clock (no real sleep)."""

from __future__ import annotations

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Clock, PollSchedule, WaitTimeout, poll_until


class FakeClock(Clock):
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_poll_until_times_out_with_the_last_value():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as raised:
        poll_until(lambda: "CREATING", lambda v: v == "AVAILABLE", 10, schedule=PollSchedule(1, 2, 4), clock=clock)
    assert raised.value.last == "CREATING" and raised.value.waited == 10
    assert clock.slept == [1, 2, 4, 3]


def test_poll_until_returns_the_value_that_is_done():
    clock = FakeClock()
    values = iter(["CREATING", "CREATING", "AVAILABLE"])
    assert poll_until(lambda: next(values), lambda v: v == "AVAILABLE", 100, schedule=PollSchedule(2, 7, 15),
                      clock=clock) == "AVAILABLE"
    assert clock.slept == [2, 14]


def test_poll_until_without_a_first_look_sleeps_first():
    clock = FakeClock()
    fetched: list[float] = []

    def fetch() -> str:
        fetched.append(clock.now)
        return "AVAILABLE"

    assert poll_until(fetch, lambda v: v == "AVAILABLE", 100, schedule=PollSchedule(2, 7, 15), clock=clock,
                      fetch_first=False) == "AVAILABLE"
    assert fetched == [2]


def test_poll_until_done_may_stop_at_once():
    def done(_value):
        raise RuntimeError("terminal")

    with pytest.raises(RuntimeError):
        poll_until(lambda: "UNAVAILABLE", done, 10, schedule=PollSchedule(1, 1, 1), clock=FakeClock())
