"""Errors a retry cannot fix (core, imports nothing).

A permanent error fails the same way however often it is retried: a config that does not
fit its source, a query the source rejects, a failed gate, a champion that moved during the
run. The DAG's task wrapper turns it into a failure without retries (retrying a bad config
twice only wasted minutes); every other error (a busy database, a full disk, a killed Spark
job) keeps the DAG's retries. Its message says what failed and what to do.
"""

from __future__ import annotations


class PermanentError(Exception):
    """An error the same input repeats on retry; the message says what to fix."""


def is_permanent(error: BaseException) -> bool:
    """Whether retrying cannot help: `error`, or an error it was raised from, is permanent."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, PermanentError):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False
