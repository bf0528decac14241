# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pacer: a burst, then `rate` requests per second; a 429 slows it down and holds until Retry-After."""

from __future__ import annotations

from ansible_collections.zenlayer.cloud.plugins.module_utils._pace import Pacer


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
    _send(pacer, 10)
    assert clock.slept == 0.0  # the first 10 go at once
    _send(pacer, 20)
    assert abs(clock.slept - 2.0) < 1e-6  # then 10 per second


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
