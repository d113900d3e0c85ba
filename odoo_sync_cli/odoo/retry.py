"""Retrying passing failures: exponential backoff with jitter, honouring ``Retry-After``.

The backoff and its bounds come from stamina (on top of tenacity). stamina lets the retry predicate
return a number of seconds, which becomes the next wait: that is how a server's ``Retry-After``
is honoured, as long as it fits in the time left; when it does not, the error is raised at once
(it carries ``retry_after`` for the scheduler).

A request that may have changed data (anything but a read) is retried only when the failure
proves the server did not run it: HTTP 429, HTTP 503, or a transaction the server rolled back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina

from odoo_sync_cli.errors import (
    RateLimitedError,
    RetriableError,
    SerializationFailureError,
    ServiceUnavailableError,
)
from odoo_sync_cli.odoo.transport import ClientStats

__all__ = ["READ_METHODS", "RetryPolicy", "call_with_retries"]

T = TypeVar("T")

# Methods that only read: retrying them after any passing failure is harmless.
READ_METHODS = frozenset(
    {
        "search",
        "search_read",
        "search_count",
        "search_fetch",
        "read",
        "read_group",
        "formatted_read_group",
        "web_search_read",
        "web_read",
        "fields_get",
        "name_search",
        "name_get",
        "default_get",
        "check_access_rights",
        "check_access",
        "has_access",
        "context_get",
        "exists",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry: at most ``attempts`` tries within ``total_timeout`` seconds."""

    attempts: int = 5
    total_timeout: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 1.0


def _not_processed(exc: RetriableError) -> bool:
    if isinstance(exc, RateLimitedError | SerializationFailureError):
        return True
    return isinstance(exc, ServiceUnavailableError) and exc.status == 503


def call_with_retries(
    fn: Callable[[], T],
    policy: RetryPolicy,
    stats: ClientStats,
    *,
    read_only: bool = True,
) -> T:
    """Run ``fn``, retrying it on :class:`RetriableError` as ``policy`` allows."""
    started = time.monotonic()

    def decide(exc: Exception) -> bool | float:
        if not isinstance(exc, RetriableError):
            return False
        if not read_only and not _not_processed(exc):
            return False
        if exc.retry_after is None:
            return True
        left = policy.total_timeout - (time.monotonic() - started)
        if exc.retry_after > left:
            return False
        return exc.retry_after

    tries = 0
    try:
        for attempt in stamina.retry_context(
            on=decide,
            attempts=policy.attempts,
            timeout=policy.total_timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                tries = attempt.num
                if tries > 1:
                    stats.count_retry()
                return fn()
    except RetriableError as exc:
        # Without this, a failure that outlasted every retry reads like one that was never
        # retried; the user deciding what to do next needs to know which it was.
        if tries > 1:
            exc.message = (
                f"{exc.message.rstrip('.')} (gave up after {tries} tries in "
                f"{time.monotonic() - started:.1f} s)"
            )
        raise
    raise AssertionError("stamina.retry_context ended without a result or an error")
