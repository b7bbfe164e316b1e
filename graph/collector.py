"""The garbage collector held off while a wake-up runs, and its due work done right after.

A wake-up allocates tens of thousands of objects (SQLAlchemy rows, Optuna trials, LangGraph
tasks), so the interpreter runs young-generation collections every few milliseconds of it, and
now and then an older one, all on the path from the job's event to the next submission. Held
off, the objects freed by reference counting during the wake-up are never scanned at all, and
the ones still alive at its end are scanned once, after the submission, when the campaign goes
back to sleep. Wake-ups can overlap (the service's waker runs two at a time): the collector
stays off until the last one ends, and each one still does the collection that came due, so
continuous wake-ups cannot put it off for ever.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False
# Under wake-ups that never stop overlapping, the collector is never switched back on, so a
# full collection is done after this many older (generation 1) ones came due.
FULL_EVERY = 10


@contextmanager
def held() -> Iterator[None]:
    """Automatic collection off for the block (and any overlapping one); afterwards the
    collection that came due meanwhile. A collector the process had switched off stays off."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            last = _holders == 0
            if last and _was_enabled:
                gc.enable()
            enabled = _was_enabled
        if enabled:
            collect_due(still_held=not last)


def collect_due(*, still_held: bool = False) -> int:
    """Run the collection the interpreter would have run by now, if any: the young generation
    once its allocations passed the threshold, the older one too when it is due as well, and a
    full one only while other holders keep the collector off. Returns the generation collected
    (-1: none was due)."""
    count0, count1, count2 = gc.get_count()
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if threshold0 == 0 or count0 <= threshold0:
        return -1
    generation = 1 if count1 > threshold1 else 0
    if still_held and generation == 1 and count2 > threshold2 * FULL_EVERY:
        generation = 2
    gc.collect(generation)
    return generation
