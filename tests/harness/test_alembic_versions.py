"""The Alembic versions projects pin: `make test` runs the main suites again with the lowest one supported."""

from __future__ import annotations

import os

import alembic


def test_the_alembic_this_run_asked_for_is_the_one_imported():
    # `make test` sets SAFEMIGRATE_EXPECT_ALEMBIC for its run on the lowest version: if the override did
    # not take, that run would silently test the newest Alembic twice.
    expected = os.environ.get("SAFEMIGRATE_EXPECT_ALEMBIC")
    if expected:
        assert alembic.__version__ == expected
    else:
        assert tuple(int(p) for p in alembic.__version__.split(".")[:2]) >= (1, 13)


def test_batch_operation_observers_leave_alembic_as_they_found_it():
    from alembic.operations import Operations, ops

    from safemigrate.guard.enforce.ops import installed, observing

    key = (ops.DropColumnOp, "default")
    before = Operations._to_impl._registry[key]
    seen: list[str] = []
    with observing(lambda operation, sql: seen.append(sql)):
        assert installed() and Operations._to_impl._registry[key] is not before
        with observing(lambda operation, sql: None):
            assert installed()
        assert installed()
    assert not installed() and Operations._to_impl._registry[key] is before
