# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pacer: keeps a client's requests under the API's rate limit, tuned by the 429 answers that come back.

Zenlayer publishes no rate. A fleet sends hundreds of calls at once, so it spaces them at a rate that starts at
a ceiling the caller chooses (a token bucket: a burst of that many requests, then that many per second). A 429
(throttled) answer lowers the rate and holds every request until the answer's `Retry-After` has passed; answered
calls raise it back slowly, never above the ceiling."""

from __future__ import annotations

from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Clock

# After a 429 the rate drops to this share of what it was (and never below MIN_RATE); each answered call adds a
# RECOVERY share of the ceiling back.
BACKOFF = 0.7
RECOVERY = 0.01
MIN_RATE = 0.5


class Pacer:
    """A token bucket on our side: `rate` requests per second (at most `ceiling`), bursts of up to `ceiling`
    requests after a quiet spell, shared by every client of one run."""

    def __init__(self, ceiling: float, clock: Clock) -> None:
        self.ceiling = float(ceiling)
        self.rate = self.ceiling
        self.burst = max(1.0, self.ceiling)
        self.clock = clock
        self.throttled_count = 0
        self._tokens = self.burst
        self._last = clock.monotonic()

    def _tokens_at(self, now: float) -> float:
        return min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)

    def before_send(self) -> None:
        """Sleep until this request's turn: when the bucket holds a whole token."""
        now = self.clock.monotonic()
        ready = self._last + max(0.0, 1.0 - self._tokens) / self.rate
        if ready > now:
            self.clock.sleep(ready - now)
            now = ready
        self._tokens = self._tokens_at(now) - 1.0
        self._last = now

    def answered(self) -> None:
        self.rate = min(self.ceiling, self.rate + RECOVERY * self.ceiling)

    def throttled(self, retry_after: float | None) -> None:
        """A 429 came back: slow down, and send nothing before Retry-After has passed, then one request at a time
        (the bucket fills again from then on, at the lower rate)."""
        self.throttled_count += 1
        self.rate = max(MIN_RATE, self.rate * BACKOFF)
        hold = retry_after if retry_after and retry_after > 0 else 1.0 / self.rate
        self._tokens = 1.0
        self._last = max(self._last, self.clock.monotonic() + hold)
