"""Bounded retries with exponential back-off for PACS operations that fail transiently."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from hccrisk.log import get_logger
from hccrisk.pacs.errors import PacsError

T = TypeVar("T")
log = get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``attempts``: total tries (1 = no retry). The wait before try k+1 is
    ``min(initial_delay_s * factor**(k-1), max_delay_s)`` seconds, so the total wait is bounded by
    ``(attempts - 1) * max_delay_s``.
    """

    attempts: int = 5
    initial_delay_s: float = 1.0
    factor: float = 2.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.initial_delay_s < 0 or self.max_delay_s < 0 or self.factor < 1:
            raise ValueError("RetryPolicy delays must be >= 0 and factor >= 1")

    def delays(self) -> list[float]:
        """The waits (s) between consecutive tries: ``attempts - 1`` values."""
        return [min(self.initial_delay_s * self.factor ** k, self.max_delay_s)
                for k in range(self.attempts - 1)]


NO_RETRY = RetryPolicy(attempts=1)


def with_retries(operation: Callable[[], T], policy: RetryPolicy, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``operation``; on a retryable :class:`PacsError` wait and try again, up to the policy.

    The last error is re-raised with the number of tries added to its problem text; a
    non-retryable error is raised at once.
    """
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return operation()
        except PacsError as exc:
            if not exc.retryable:
                raise
            if attempt == policy.attempts - 1:
                if policy.attempts == 1:
                    raise
                raise PacsError(exc.server, f"{exc.problem} (gave up after {policy.attempts} "
                                f"tries)", retryable=True) from exc
            wait = delays[attempt]
            log.warning("%s failed (%s); retry %d/%d in %.1f s", what, exc, attempt + 1,
                        policy.attempts - 1, wait)
            sleep(wait)
    raise AssertionError("unreachable")
