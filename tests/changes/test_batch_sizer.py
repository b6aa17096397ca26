"""How the backfill sizes its batches (no database: the sizer is fed the times the server reports).

On a busy machine a batch's time is noisy: one slow batch, or one cancel, must not shrink the backfill to its
smallest batches for good (that made a 200,000-row backfill take 2036 batches instead of 18).
"""

from __future__ import annotations

from safemigrate.changes.lifecycle import MIN_BATCH, _Sizer


def test_the_size_moves_towards_the_target_at_most_twofold_per_batch():
    sizer = _Sizer(1000, target_ms=30, max_size=50_000)
    assert sizer.succeeded(1000, 3.0) == 2000  # 3 µs per key: 8000 wanted, doubled at most
    assert sizer.succeeded(2000, 6.0) == 4000
    assert sizer.succeeded(4000, 12.0) == 8000
    assert sizer.succeeded(8000, 24.0) == 8000  # 80 % of 30 ms: where it stays
    assert _Sizer(1000, target_ms=30, max_size=50_000).succeeded(1000, 600.0) == 500  # halved at most


def test_one_slow_batch_among_fast_ones_does_not_shrink_the_next():
    sizer = _Sizer(8000, target_ms=30, max_size=50_000)
    for _ in range(3):
        sizer.succeeded(8000, 24.0)
    assert sizer.succeeded(8000, 400.0) == 8000  # a checkpoint, the scheduler: one slow batch is ignored
    assert sizer.succeeded(8000, 400.0) == 4000  # two of five: the server is slower now


def test_a_cancel_is_redone_at_its_size_once_then_halved():
    sizer = _Sizer(4000, target_ms=30, max_size=50_000)
    assert sizer.cancelled(45) and sizer.size == 4000
    assert sizer.cancelled(45) and sizer.size == 2000
    assert sizer.cancelled(45) and sizer.size == 1000
    sizer.succeeded(1000, 12.0)
    assert sizer.size == 2000  # 12 µs per key, the second slowest of 11.25, 11.25, 12, 22.5: 2000 wanted
    assert sizer.cancelled(45) and sizer.size == 2000  # a lone cancel again: redone at its size


def test_cancels_count_so_the_size_does_not_settle_where_half_the_batches_are_cancelled():
    sizer = _Sizer(8000, target_ms=30, max_size=50_000)
    for _ in range(5):  # every other batch finishes in 20 ms, the others are cancelled at 45
        sizer.succeeded(8000, 20.0)
        sizer.cancelled(45)
    assert sizer.size < 8000


def test_at_the_smallest_size_a_cancel_says_so_so_the_time_limit_is_raised():
    sizer = _Sizer(MIN_BATCH * 2, target_ms=30, max_size=50_000)
    assert sizer.cancelled(45) and sizer.cancelled(45) and sizer.size == MIN_BATCH
    assert not sizer.cancelled(45)
    assert sizer.succeeded(1, 0.0) >= MIN_BATCH
