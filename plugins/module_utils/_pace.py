# -*- coding: utf-8 -*-
# Copyright (c) zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pacer: keeps a client's requests under the API's rate limit, tuned by the 429 answers that come back.

Zenlayer publishes no rate. A fleet sends hundreds of calls at once, so it spaces them at a rate that starts at
a ceiling the caller chooses (a token bucket: a burst of that many requests, then that many per second). A 429
(throttled) answer lowers the rate and holds every request until the answer's `Retry-After` has passed; answered
calls raise it back slowly, never above the ceiling.

Writes that concern one instance each (power records, CreateImage) are sent by a few threads at once
(each_concurrently), so that the round trip of one request does not hold the next: the pacer, shared by the
threads, is what keeps the rate."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

from ansible_collections.zenlayer.cloud.plugins.module_utils._wait import Clock

T = TypeVar("T")
# Requests in flight at once: enough to keep 20 requests/s going over a 400 ms round trip, few enough for any API.
WRITE_WORKERS = 8

# The burst is this share of the ceiling: the API's own bucket is then never emptied by our bursts, and the requests
# that threads send at once may arrive bunched up (a few ms apart instead of 1/rate) without meeting an empty bucket.
BURST_SHARE = 0.75
# After a 429 the rate drops to this share of what it was (and never below MIN_RATE); each answered call adds a
# RECOVERY share of the ceiling back.
BACKOFF = 0.7
RECOVERY = 0.01
MIN_RATE = 0.5


class Pacer:
    """A token bucket on our side: `rate` requests per second (at most `ceiling`), bursts of up to BURST_SHARE x
    `ceiling` requests after a quiet spell, shared by every client (and thread) of one run."""

    def __init__(self, ceiling: float, clock: Clock) -> None:
        self.ceiling = float(ceiling)
        self.rate = self.ceiling
        self.burst = max(1.0, BURST_SHARE * self.ceiling)
        self.clock = clock
        self.throttled_count = 0
        self._tokens = self.burst
        self._last = clock.monotonic()  # when the bucket last held _tokens; in the future while sends are booked
        self._lock = threading.Lock()
        self._slowed_at = float("-inf")  # when a 429 last lowered the rate

    def _tokens_at(self, now: float) -> float:
        return min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)

    def before_send(self) -> float:
        """Sleep until this request's turn: when the bucket holds a whole token (booked under the lock, so that
        threads sending at once each get a turn of their own). Returns that turn, for throttled()."""
        with self._lock:
            now = self.clock.monotonic()
            ready = max(now, self._last + max(0.0, 1.0 - self._tokens) / self.rate)
            self._tokens = self._tokens_at(ready) - 1.0
            self._last = ready
        if ready > now:
            self.clock.sleep(ready - now)
        return ready

    def answered(self) -> None:
        with self._lock:
            self.rate = min(self.ceiling, self.rate + RECOVERY * self.ceiling)

    def throttled(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429 came back for the request sent at `sent_at`: slow down, and send nothing before Retry-After has
        passed, then one request at a time (the bucket fills again from then on, at the lower rate). Requests sent
        before the rate was last lowered met the same crowd: their 429s hold, but do not lower the rate again."""
        with self._lock:
            self.throttled_count += 1
            if sent_at is None or sent_at > self._slowed_at:
                self.rate = max(MIN_RATE, self.rate * BACKOFF)
                self._slowed_at = self.clock.monotonic()
            hold = retry_after if retry_after and retry_after > 0 else 1.0 / self.rate
            self._tokens = 1.0
            self._last = max(self._last, self.clock.monotonic() + hold)


def each_concurrently(work: Callable[[T], None], items: Sequence[T], workers: int = WRITE_WORKERS) -> None:
    """work(item) for every item, on up to `workers` threads; returns once all have ended. `work` handles the
    failures it expects; anything else it raises is raised here, after the others have ended. An interrupt (a
    cancelled job) drops the items not started yet: only the requests already in flight are let finish."""
    if len(items) <= 1:
        for item in items:
            work(item)
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)))
    try:
        futures = [pool.submit(work, item) for item in items]
        wait(futures)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for future in futures:
        future.result()
