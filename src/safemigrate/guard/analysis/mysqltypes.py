"""MySQL/MariaDB column types, read by sqlglot: whether changing one to another can lose values."""

from __future__ import annotations

from typing import Any

#: Integer types by (bytes, unsigned); display widths (``int(11)``) change nothing.
_INTEGERS = {"TINYINT": 1, "SMALLINT": 2, "MEDIUMINT": 3, "INT": 4, "BIGINT": 8}
#: String types by the characters (or bytes) they hold; a length parameter overrides.
_STRINGS = {"CHAR": 255, "VARCHAR": 65535, "TINYTEXT": 255, "TEXT": 65535, "MEDIUMTEXT": 16777215,
            "LONGTEXT": 4294967295, "BINARY": 255, "VARBINARY": 65535, "TINYBLOB": 255, "BLOB": 65535,
            "MEDIUMBLOB": 16777215, "LONGBLOB": 4294967295, "JSON": 4294967295}
_FLOATS = {"FLOAT": 4, "DOUBLE": 8}
_WIDENING = {("DATE", "DATETIME"), ("DATE", "TIMESTAMP"), ("TIMESTAMP", "DATETIME"), ("FLOAT", "DOUBLE"),
             ("JSON", "LONGTEXT"), ("LONGTEXT", "JSON")}  # MariaDB's JSON is LONGTEXT


def _read(type_text: str) -> tuple[str, bool, list[str]] | None:
    """(base name, unsigned, parameters) of a type as MySQL writes it (``int(10) unsigned``)."""
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        data_type: Any = exp.DataType.build(type_text, dialect="mysql")
    except (ParseError, ValueError):
        return None
    name = data_type.this.name
    unsigned = name.startswith("U") and name[1:] in _INTEGERS or "UNSIGNED" in data_type.sql("mysql").upper()
    base = name[1:] if name.startswith("U") and name[1:] in _INTEGERS else name
    base = {"TIMESTAMPTZ": "TIMESTAMP", "TIMESTAMPLTZ": "TIMESTAMP", "DECIMAL32": "DECIMAL",
            "DECIMAL64": "DECIMAL"}.get(base, base)
    params = [p.sql(dialect="mysql") for p in data_type.expressions]
    return base, bool(unsigned), params


def narrows(before: str, after: str) -> bool:
    """Whether changing a column from ``before`` to ``after`` (as information_schema writes them) can cut,
    round, zero or refuse values. A type that cannot be read counts as narrowing: it is not known to fit."""
    if before.strip().lower() == after.strip().lower():
        return False
    old, new = _read(before), _read(after)
    if old is None or new is None:
        return True
    (a, a_unsigned, a_params), (b, b_unsigned, b_params) = old, new
    if a in _INTEGERS and b in _INTEGERS:
        if a_unsigned == b_unsigned:
            return _INTEGERS[b] < _INTEGERS[a]
        return a_unsigned or _INTEGERS[b] <= _INTEGERS[a]  # unsigned -> signed halves the range; signed loses < 0
    if a in _INTEGERS and b == "DECIMAL":
        precision, scale = _precision(b_params)
        digits = {1: 3, 2: 5, 3: 8, 4: 10, 8: 20}[_INTEGERS[a]]
        return precision - scale < digits
    if a in _INTEGERS and b in _FLOATS:
        return _INTEGERS[a] == 8 or (b == "FLOAT" and _INTEGERS[a] >= 4)
    if a in _INTEGERS and b in _STRINGS:
        return _length(b, b_params) < 20
    if a in _STRINGS and b in _STRINGS:
        if a in {"JSON"} and b not in {"LONGTEXT", "LONGBLOB"}:
            return True
        return _length(b, b_params) < _length(a, a_params)
    if a == "DECIMAL" and b == "DECIMAL":
        (p1, s1), (p2, s2) = _precision(a_params), _precision(b_params)
        return p2 - s2 < p1 - s1 or s2 < s1
    if a in {"ENUM", "SET"} and b == a:
        return not set(a_params) <= set(b_params)
    if a in {"ENUM", "SET"} and b in _STRINGS:
        longest = max((len(p) - 2 for p in a_params), default=0) * (len(a_params) if a == "SET" else 1)
        return _length(b, b_params) < longest
    if a in _FLOATS and b in _FLOATS:
        return _FLOATS[b] < _FLOATS[a]
    if a == b:  # same base, other parameters (BIT(n), TIME(fsp)...): fewer is narrower
        return _numbers(b_params) < _numbers(a_params)
    return (a, b) not in _WIDENING


def _length(base: str, params: list[str]) -> int:
    numbers = _numbers(params)
    return numbers[0] if numbers and base in {"CHAR", "VARCHAR", "BINARY", "VARBINARY"} else _STRINGS.get(base, 0)


def _precision(params: list[str]) -> tuple[int, int]:
    numbers = _numbers(params)
    return (numbers[0] if numbers else 10), (numbers[1] if len(numbers) > 1 else 0)


def _numbers(params: list[str]) -> list[int]:
    return [int(p) for p in params if p.isdigit()]
