"""The MariaDB guard's row counts are bounded: it asks whether a table was emptied, never how many rows it has."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, pool

from safemigrate.guard.enforce.mysql_effects import ROW_CAP, count_rows, effects, snapshot

pytestmark = pytest.mark.mysql


def test_counts_stop_after_the_cap_and_an_emptied_large_table_is_still_seen(mysql_url):
    engine = create_engine(mysql_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE big (id INT PRIMARY KEY)")
            conn.exec_driver_sql(f"INSERT INTO big SELECT seq FROM seq_1_to_{ROW_CAP * 3}")
            conn.exec_driver_sql("CREATE TABLE small (id INT PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO small VALUES (1), (2), (3)")
            conn.exec_driver_sql("CREATE TABLE `empty one` (id INT PRIMARY KEY)")
        with engine.connect() as conn:
            assert count_rows(conn, ["big", "small", "empty one"]) == {"big": ROW_CAP + 1, "small": 3,
                                                                        "empty one": 0}
            before = snapshot(conn)
            conn.exec_driver_sql("DELETE FROM big")
            conn.exec_driver_sql("DELETE FROM small WHERE id = 1")
            found = effects(before, snapshot(conn))
            conn.rollback()
        assert [(e.rule, e.target) for e in found] == [("delete-without-where", "big")]
        assert f"it held more than {ROW_CAP} rows and holds none" in found[0].description
    finally:
        engine.dispose()
