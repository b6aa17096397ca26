"""Which MySQL/MariaDB column type changes can lose values (the run-time guard refuses them as narrowing)."""

from __future__ import annotations

import pytest

from safemigrate.guard.analysis.mysqltypes import narrows

NARROWING = [("varchar(50)", "varchar(6)"), ("varchar(50)", "int"), ("int(11)", "tinyint"), ("text", "varchar(100)"),
             ("int(11)", "int unsigned"), ("bigint(20) unsigned", "bigint"), ("decimal(10,2)", "decimal(10,1)"),
             ("enum('a','b')", "enum('a')"), ("datetime(6)", "datetime"), ("double", "float"),
             ("mediumtext", "text"), ("int(11)", "varchar(5)")]
NOT_NARROWING = [("varchar(50)", "varchar(50)"), ("varchar(50)", "varchar(100)"), ("int(11)", "int"),
                 ("int(11)", "bigint"), ("varchar(50)", "text"), ("decimal(10,2)", "decimal(12,2)"),
                 ("date", "datetime"), ("enum('a','b')", "enum('a','b','c')"), ("int(11)", "varchar(50)"),
                 ("tinyint(1)", "tinyint"), ("float", "double"), ("int(11)", "decimal(12,0)")]


@pytest.mark.parametrize("before, after", NARROWING)
def test_narrowing(before, after):
    assert narrows(before, after)


@pytest.mark.parametrize("before, after", NOT_NARROWING)
def test_not_narrowing(before, after):
    assert not narrows(before, after)
