"""`rea.tools.journal`: reading the SQL journal the way the agents and the report need it."""

from __future__ import annotations

import pytest

from rea.tools.journal import concurrency


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], {}),
        ([(0.0, 10.0), (0.0, 4.0), (6.0, 10.0)], {2: 8.0, 1: 2.0}),
        ([(0.0, 2.0), (2.0, 5.0)], {1: 5.0}),  # touching spans do not overlap
        ([(0.0, 1.0), (3.0, 4.0)], {1: 2.0, 0: 2.0}),  # the gap counts as 0 running
        ([(5.0, 9.0), (0.0, 6.0), (1.0, 2.0)], {1: 7.0, 2: 2.0}),  # any order
        ([(1.0, 1.0), (0.0, 3.0)], {1: 3.0}),  # a job whose start was never seen
    ],
)
def test_concurrency_counts_the_wall_seconds_each_number_of_jobs_ran(spans, expected):
    out = concurrency(spans)
    assert out == pytest.approx(expected)
    if spans:
        assert sum(out.values()) == pytest.approx(
            max(b for _, b in spans) - min(a for a, _ in spans)
        )
