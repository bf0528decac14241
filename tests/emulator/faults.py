"""Fault injection rules and the request rate limiter of the Zenlayer VM API emulator."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

FAULT_KINDS = ("throttle", "error", "slow", "drop", "timeout", "lose_response", "lose_response_5xx",
               "performed_error", "performed_drop", "performed_timeout", "then_patch")
# kinds whose action is performed before the (faulty) answer
PERFORMING_KINDS = ("slow", "lose_response", "lose_response_5xx", "performed_error", "performed_drop", "performed_timeout",
                    "then_patch")
# a held answer never outlives this, so a forgotten rule cannot hang a test run
MAX_HOLD_SECONDS = 300.0
DEFAULT_RETRY_AFTER = 1
# longer than the collection's and the SDK's default client timeout (60 s), so the client gives up first
DEFAULT_HOLD_SECONDS = 65.0


class FaultRuleError(ValueError):
    """A malformed fault rule."""


@dataclass
class FaultRule:
    """One rule: which action, what happens, how many times, after how many matches, for how long."""

    action: str
    kind: str
    times: int | None = 1
    after: int = 0
    for_seconds: float | None = None
    status: int = 503
    code: str = "SERVICE_TEMPORARY_UNAVAILABLE"
    message: str = "The service is temporarily unavailable (injected fault)."
    delay: float = 1.0
    retry_after: int = DEFAULT_RETRY_AFTER
    page: int | None = None
    patch: dict | None = None
    added_at: float = 0.0
    skipped: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, raw: Any, now: float) -> FaultRule:
        """Validate and build a rule from its JSON form."""
        if not isinstance(raw, dict):
            raise FaultRuleError("a fault rule must be an object")
        kind = raw.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultRuleError("fault kind must be one of %s, got %r" % (", ".join(FAULT_KINDS), kind))
        times = raw.get("times", 1)
        if times is not None and (not isinstance(times, int) or times < 0):
            raise FaultRuleError("times must be a non-negative integer or null")
        rule = cls(action=str(raw.get("action", "*")), kind=kind, times=times, after=int(raw.get("after", 0)),
                   for_seconds=None if raw.get("for_seconds") is None else float(raw["for_seconds"]), added_at=now)
        rule.status = int(raw.get("status", rule.status))
        rule.code = str(raw.get("code", rule.code))
        rule.message = str(raw.get("message", rule.message))
        default_delay = DEFAULT_HOLD_SECONDS if kind in ("timeout", "performed_timeout") else rule.delay
        rule.delay = float(raw.get("delay", default_delay))
        if not 0.0 <= rule.delay <= MAX_HOLD_SECONDS:
            raise FaultRuleError("delay must be between 0 and %g seconds" % MAX_HOLD_SECONDS)
        rule.retry_after = int(raw.get("retry_after", rule.retry_after))
        if rule.retry_after < 0:
            raise FaultRuleError("retry_after must be a non-negative integer")
        rule.page, rule.patch = _page_of(raw), _patch_of(raw, kind)
        return rule

    @property
    def performs(self) -> bool:
        """Whether the action is performed before the faulty answer."""
        return self.kind in PERFORMING_KINDS

    def remaining(self) -> int | None:
        """How many more times it fires (None = unlimited)."""
        return None if self.times is None else max(self.times - self.fired, 0)

    def active(self, now: float) -> bool:
        """Not exhausted and inside its time window."""
        if self.remaining() == 0:
            return False
        return self.for_seconds is None or now < self.added_at + self.for_seconds

    def to_json(self, now: float) -> dict:
        """JSON view with the remaining count."""
        return {"action": self.action, "kind": self.kind, "times": self.times, "after": self.after,
                "for_seconds": self.for_seconds, "status": self.status, "code": self.code, "delay": self.delay,
                "retry_after": self.retry_after, "page": self.page, "patch": self.patch, "performs": self.performs,
                "skipped": self.skipped, "fired": self.fired,
                "remaining": self.remaining(), "active": self.active(now)}


def _page_of(raw: dict) -> int | None:
    """The optional `page` of a rule: it then matches only the requests for that pageNum."""
    page = raw.get("page")
    if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
        raise FaultRuleError("page must be a page number (an integer >= 1) or null")
    return page


def _patch_of(raw: dict, kind: str) -> dict | None:
    """The /_emulator/patch document a then_patch rule applies once its request is answered."""
    patch = raw.get("patch")
    if kind == "then_patch" and not (isinstance(patch, dict) and patch):
        raise FaultRuleError("a then_patch rule needs patch: a /_emulator/patch document (an object)")
    if kind != "then_patch" and patch is not None:
        raise FaultRuleError("patch is only for the kind then_patch")
    return patch


class FaultBook:
    """The ordered list of fault rules; the first active matching rule (past its 'after' count) fires."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._clock = clock

    def add(self, raw_rules: list) -> int:
        """Append rules (all validated first); return how many are now listed."""
        now = self._clock()
        rules = [FaultRule.from_json(raw, now) for raw in raw_rules]
        with self._lock:
            self._rules.extend(rules)
            return len(self._rules)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def listing(self) -> list[dict]:
        """Rules with their remaining counts."""
        now = self._clock()
        with self._lock:
            return [rule.to_json(now) for rule in self._rules]

    def take(self, action: str, page: Any = None) -> FaultRule | None:
        """The rule that fires for this request, if any (its counters are updated). `page` is the request's pageNum:
        a rule with a page only sees (and counts) the requests for that page."""
        now = self._clock()
        with self._lock:
            for rule in self._rules:
                if rule.action not in ("*", action) or not rule.active(now):
                    continue
                if rule.page is not None and rule.page != page:
                    continue
                if rule.skipped < rule.after:
                    rule.skipped += 1
                    continue
                rule.fired += 1
                return rule
        return None


class RateLimiter:
    """Token bucket: `rate` requests per second, burst of max(1, rate); rate 0 = unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = float(rate)
        self._capacity = max(1.0, self._rate)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        if self._rate <= 0:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def retry_after(self) -> int:
        """Whole seconds until the next token (at least 1): the Retry-After of a 429."""
        if self._rate <= 0:
            return DEFAULT_RETRY_AFTER
        with self._lock:
            missing = max(0.0, 1.0 - self._tokens)
        return max(1, int(math.ceil(missing / self._rate)))
