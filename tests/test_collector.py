"""The garbage collector held off during wake-ups (graph/collector.py)."""

from __future__ import annotations

import gc
import threading

import pytest

from rea.graph import collector


@pytest.fixture
def collections():
    """The generations collected while the test runs (gc.callbacks)."""
    seen: list[int] = []

    def callback(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


def _allocate(n: int) -> list:
    return [[] for _ in range(n)]  # container objects count towards generation 0


def test_no_collection_runs_inside_and_the_due_one_runs_after(collections):
    assert gc.isenabled()
    threshold0 = gc.get_threshold()[0]
    with collector.held():
        assert not gc.isenabled()
        kept = _allocate(20 * threshold0)
        assert collections == []  # the interpreter would have collected ~20 times by now
        assert gc.get_count()[0] > threshold0
    assert gc.isenabled()
    assert collections and collections[0] in (0, 1)  # the due collection, once, after
    assert gc.get_count()[0] < threshold0
    assert len(kept) == 20 * threshold0


def test_nothing_is_collected_after_when_nothing_came_due(collections):
    gc.collect()
    collections.clear()
    with collector.held():
        pass
    assert collections == [] and gc.isenabled()


def test_overlapping_holders_keep_it_off_until_the_last_and_each_collects_what_is_due(
    collections,
):
    threshold0 = gc.get_threshold()[0]
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector.held():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with collector.held():
        kept = _allocate(5 * threshold0)
    # The other wake-up still runs: off, but what came due was collected on the way out.
    assert not gc.isenabled()
    assert collections and gc.get_count()[0] < threshold0
    release.set()
    thread.join(10)
    assert gc.isenabled()
    assert len(kept) == 5 * threshold0


def test_a_collector_the_process_switched_off_stays_off(collections):
    gc.disable()
    try:
        with collector.held():
            _allocate(5 * gc.get_threshold()[0])
        assert not gc.isenabled()
        assert collections == []  # the process chose to collect nothing automatically
    finally:
        gc.enable()


def test_under_endless_overlap_a_full_collection_comes_due(monkeypatch):
    threshold0, threshold1, threshold2 = gc.get_threshold()
    monkeypatch.setattr(
        collector.gc, "get_count", lambda: (threshold0 + 1, threshold1 + 1, 10 * threshold2 + 1)
    )
    collected: list[int] = []
    monkeypatch.setattr(collector.gc, "collect", lambda generation: collected.append(generation))
    assert collector.collect_due(still_held=True) == 2
    assert collector.collect_due(still_held=False) == 1  # the interpreter decides on full ones
    monkeypatch.setattr(collector.gc, "get_count", lambda: (threshold0 - 1, 0, 0))
    assert collector.collect_due() == -1
    assert collected == [2, 1]
