# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pacer: a burst, then `rate` requests per second, each thread its own turn; a 429 slows it down and holds until
Retry-After."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ansible_collections.zenlayer.cloud.plugins.module_utils._pace import Pacer, each_concurrently


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def _send(pacer: Pacer, count: int) -> None:
    for _number in range(count):
        pacer.before_send()
        pacer.answered()


def test_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(10, clock)
    _send(pacer, 7)
    assert clock.slept == 0.0  # the first 7 go at once (a burst of 7.5: a quarter of the API's kept in reserve)
    _send(pacer, 20)
    assert abs(clock.slept - 1.95) < 1e-6  # then 10 per second, the half token left counting


def test_a_429_holds_until_retry_after_and_slows_down() -> None:
    clock = FakeClock()
    pacer = Pacer(10, clock)
    _send(pacer, 10)
    pacer.throttled(3.0)
    assert pacer.rate == 7.0 and pacer.throttled_count == 1
    started = clock.now
    pacer.before_send()
    assert clock.now - started >= 3.0
    _send(pacer, 7)
    assert clock.now - started >= 3.0 + 6 / 7.0 - 1e-6


def test_answers_bring_the_rate_back_to_the_ceiling_not_above() -> None:
    clock = FakeClock()
    pacer = Pacer(20, clock)
    pacer.throttled(None)
    assert pacer.rate == 14.0
    _send(pacer, 500)
    assert pacer.rate == 20.0


class BookingClock(FakeClock):
    """Time stands still; each sleep is noted as the moment its thread would wake (threads sleep at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakes: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.wakes.append(self.now + seconds)


def test_threads_sending_at_once_each_get_a_turn_of_their_own() -> None:
    clock = BookingClock()
    pacer = Pacer(10, clock)
    each_concurrently(lambda _number: pacer.before_send(), list(range(30)), workers=8)
    # the burst of 7 goes at once (no sleep); the 23 others wake 0.1 s apart, none sharing a turn
    assert sorted(round(wake - 1000.0, 6) for wake in clock.wakes) == [round(0.05 + 0.1 * n, 6) for n in range(23)]


def test_each_concurrently_does_every_item_and_raises_what_work_did_not_handle() -> None:
    done: list[int] = []

    def work(number: int) -> None:
        if number == 3:
            raise ValueError("item 3")
        done.append(number)

    with pytest.raises(ValueError, match="item 3"):
        each_concurrently(work, list(range(10)), workers=4)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_429s_of_requests_sent_together_lower_the_rate_once() -> None:
    clock = FakeClock()
    pacer = Pacer(20, clock)
    turns = [pacer.before_send() for _number in range(8)]  # 8 threads' requests in flight at once
    for turn in turns:
        pacer.throttled(1.0, turn)
    assert pacer.rate == 14.0 and pacer.throttled_count == 8
    clock.sleep(2.0)
    pacer.throttled(1.0, pacer.before_send())  # sent after the slow-down, and still throttled: slower again
    assert abs(pacer.rate - 9.8) < 1e-9


def test_an_interrupt_drops_the_items_not_started_yet() -> None:
    started: list[int] = []

    def work(number: int) -> None:
        started.append(number)
        if number == 4:
            os.kill(os.getpid(), signal.SIGINT)  # the job is cancelled while the fifth request is in flight
        time.sleep(0.01)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            each_concurrently(work, list(range(50)), workers=2)
        started_when_raised = len(started)
    finally:
        signal.signal(signal.SIGINT, previous)
    time.sleep(0.4)  # long enough for all 50 (two at a time, 10 ms each) had they not been dropped
    # the others were never sent: at most the two in flight when the interrupt surfaced had started since (counted
    # from that moment, not from the fifth, as a loaded machine may let the workers start a few more before it)
    assert started_when_raised < 50 and len(started) <= started_when_raised + 2, (started_when_raised, len(started))
