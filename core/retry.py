"""Retry and backoff: the one policy every network step of the plugin shares.

CMR paging (:mod:`.search`), the download engine (:mod:`.download`) and the HyP3 client
(:mod:`.hyp3.client`) retry transient failures (5xx, 429, timeouts, dropped connections) with
the same exponential backoff, honour ``Retry-After``, and wait in small steps so that a cancel
is noticed at once. This module depends on nothing else in the plugin, so every one of them can
import it without importing each other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

from .errors import CancelledError

__all__ = ["CancelCheck", "RetryPolicy", "retry_after_seconds", "sleep_unless_cancelled"]

CancelCheck = Callable[[], bool]


@dataclass
class RetryPolicy:
    """How transient failures are retried: exponential backoff, ``Retry-After`` honoured.

    ``attempts`` is how many attempts in a row may fail before the caller gives up;
    ``delay(n)`` is the wait after the n-th failure (``base_delay_s`` doubling, at most
    ``max_delay_s``); ``sleep`` is the sleep function (tests inject one that records).
    """

    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        wait = min(self.max_delay_s, self.base_delay_s * (2 ** (max(1, attempt) - 1)))
        if retry_after is not None:
            wait = min(self.max_delay_s, max(wait, retry_after))
        return wait


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def sleep_unless_cancelled(
    seconds: float, sleep: Callable[[float], None], is_cancelled: CancelCheck | None, step_s: float = 0.5
) -> None:
    """Sleep ``seconds`` in steps of at most ``step_s``; raise :class:`CancelledError` on cancel."""
    remaining = max(0.0, seconds)
    while True:
        if is_cancelled is not None and is_cancelled():
            raise CancelledError("Cancelled by the user.")
        if remaining <= 0:
            return
        part = min(step_s, remaining)
        sleep(part)
        remaining -= part
