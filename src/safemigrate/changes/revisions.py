"""The text of a change's revisions: the expand and contract bodies, and the model at each deploy.

Plain SQL through ``op.execute`` (the statements are exactly what PostgreSQL runs, shown to the reviewer as
such), each destructive step signed off by the change's name, comments saying why each step is safe.
"""

from __future__ import annotations

from safemigrate.changes import mysql, sql, tables
from safemigrate.changes.catalog import CarriedIndex
from safemigrate.state.changes import ChangePlan


def _execute(statement: str) -> list[str]:
    return [f"op.execute({statement!r})"] if "\n" not in statement else \
        ["op.execute(", *[f"    {line!r}" for line in _lines(statement)], ")"]


def _lines(statement: str) -> list[str]:
    parts = statement.split("\n")
    return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def _allow(rule: str, target: str, plan: ChangePlan) -> str:
    return f"allow({rule!r}, {target!r}, reason={'expand-contract change ' + plan.name!r})"


def describe(plan: ChangePlan) -> str:
    if plan.kind == sql.RENAME_TABLE:
        return f"rename table {plan.table} to {plan.new_table} (change {plan.name})"
    if plan.kind == sql.RENAME_COLUMN:
        return f"rename {plan.table}.{plan.column} to {plan.new_column} (change {plan.name})"
    if plan.kind == sql.DROP_COLUMN:
        return f"drop {plan.table}.{plan.column} (change {plan.name})"
    if plan.kind == sql.CHANGE_TYPE:
        return (f"change {plan.table}.{plan.column} to {plan.new_type} as {plan.new_column} (change {plan.name})")
    return f"make {plan.table}.{plan.column} NOT NULL, NULLs filled with {plan.fill} (change {plan.name})"


def expand_body(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    if plan.dialect == "mysql":
        return _expand_mysql(plan)
    if plan.kind == sql.RENAME_TABLE:
        return _expand_table(plan)
    table = sql.q(plan.table)
    trigger = sql.object_name(plan)
    up: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    down: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    allows: list[str] = []
    if plan.kind in sql.TWO_COLUMNS:
        new = plan.new_column or ""
        up += ["# the new column, nullable: the trigger fills it on every write, the backfill fills the rows before",
               *_execute(f"ALTER TABLE {table} ADD COLUMN {sql.q(new)} {plan.new_type or plan.column_type}")]
        if plan.not_null:
            up += ["# NOT NULL on the new column: checked for new rows now, validated by the contract revision",
                   *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(sql.check_name(plan))} "
                             f"CHECK ({sql.q(new)} IS NOT NULL) NOT VALID")]
        down += [f"with allow('drop-column', {plan.table + '.' + new!r}, reason='undo of the expand of {plan.name}'):",
                 *["    " + line for line in _execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {sql.q(new)}")]]
    if plan.kind == sql.SET_NOT_NULL:
        up += ["# rows written from now on may not be NULL (checked for new rows only: no scan)",
               *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(sql.check_name(plan))} "
                         f"CHECK ({sql.q(plan.column)} IS NOT NULL) NOT VALID")]
        down += [f"with allow('drop-constraint', {plan.table + '.' + sql.check_name(plan)!r}, "
                 f"reason='undo of the expand of {plan.name}'):",
                 *["    " + line for line in _execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS "
                                                      f"{sql.q(sql.check_name(plan))}")]]
    if plan.kind == sql.DROP_COLUMN:
        if plan.not_null:
            up += ["# the application stops writing the column: it may no longer be required",
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} DROP NOT NULL")]
        else:
            up += ["# the column is nullable already: the application can stop writing it; nothing to change"]
        return up, down, allows
    up += ["# keeps the old and the new shape in step, in both directions, while both application versions run",
           *_execute(sql.trigger_function(plan)), *_execute(sql.create_trigger(plan))]
    down = down[:1] + [line for s in sql.drop_trigger(plan) for line in _execute(s)] + down[1:]
    allows.append(_allow("create-trigger", f"{plan.table}.{trigger}", plan))
    up += _carried_indexes(plan)
    return up, down, allows


_INVALID_INDEX = "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(:name) AND NOT indisvalid"


def _carried_indexes(plan: ChangePlan) -> list[str]:
    """The old column's indexes on the new one, built CONCURRENTLY once the column and trigger have committed."""
    lines: list[str] = []
    for index in (CarriedIndex(**i) for i in plan.indexes):  # type: ignore[arg-type]
        name = sql.q(index.new_name)
        create = (f"CREATE {'UNIQUE ' if index.unique else ''}INDEX CONCURRENTLY IF NOT EXISTS {name} ON "
                  f"{sql.q(plan.table)} USING {index.method} ({', '.join(sql.q(c) for c in index.columns)})")
        lines += [f"# {index.name} on the new column, built without blocking writes (after the trigger committed)",
                  "with op.get_context().autocommit_block():",
                  "    # an interrupted build leaves an INVALID index, which IF NOT EXISTS would keep",
                  f"    if not op.get_context().as_sql and op.get_bind().execute(sa.text({_INVALID_INDEX!r}), "
                  f"{{'name': {name!r}}}).first():",
                  *["        " + line for line in _execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")],
                  *["    " + line for line in _execute(create)]]
    return lines


def _expand_table(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    new = plan.new_table or ""
    up = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")",
          f"# {new}: the columns, defaults and constraints of {plan.table}, its keys and indexes under {new}'s names",
          *[line for s in tables.create_table(plan) for line in _execute(s)],
          "# every write to either table is copied to the other, until the contract",
          *[line for reverse in (False, True) for s in tables.sync_function(plan, reverse) for line in _execute(s)]]
    down = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")",
            *[line for s in tables.drop_sync(plan) for line in _execute(s)],
            f"with allow('drop-table', {new!r}, reason='undo of the expand of {plan.name}'):",
            *["    " + line for line in _execute(f"DROP TABLE IF EXISTS {sql.q(new)}")]]
    return up, down, [_allow("create-trigger", f"{plan.table}.{sql.object_name(plan)}", plan),
                      _allow("create-trigger", f"{new}.{sql.object_name(plan, '_rev')}", plan)]


def _expand_mysql(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    up, undo, allows = mysql.expand(plan)
    lines = ["# MySQL/MariaDB commit each statement on its own; ALGORITHM=INPLACE, LOCK=NONE lets writes go on",
             *[line for s in up for line in _execute(s)]] if up else \
        ["# the column is nullable already: the application can stop writing it; nothing to change", "pass"]
    if plan.kind == sql.RENAME_COLUMN:
        lines.insert(1, "# the new column, nullable: the triggers fill it on every write, the backfill fills the "
                        "rows before; BEFORE INSERT and BEFORE UPDATE triggers keep both columns in step")
    down = [line for s in undo for line in _execute(s)]
    if plan.kind == sql.RENAME_COLUMN:
        new = plan.new_column or ""
        down += [f"with allow('drop-column', {plan.table + '.' + new!r}, reason='undo of the expand of "
                 f"{plan.name}'):",
                 *["    " + line for line in _execute(f"ALTER TABLE {mysql.q(plan.table)} DROP COLUMN "
                                                      f"{mysql.q(new)}")]]
    return lines, down or ["pass"], [_allow(rule, target, plan) for rule, target in allows]


def _contract_mysql(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    up, allows = mysql.contract(plan)
    comment = {sql.RENAME_COLUMN: f"# {plan.new_column} takes NOT NULL and the default; {plan.column} becomes "
                                  "nullable before the triggers go, so a write between two statements never fails",
               sql.SET_NOT_NULL: "# NOT NULL while the triggers still fill what a writer leaves NULL, then the "
                                 "triggers go",
               sql.DROP_COLUMN: "# online: writes go on while the column is dropped"}[plan.kind]
    down = ["# a contract drops data: it is undone by restoring a backup, or by a new expand–contract change",
            f"raise NotImplementedError('the contract of {plan.name} dropped {plan.table}.{plan.column}')"] \
        if plan.kind != sql.SET_NOT_NULL else \
        _execute(f"ALTER TABLE {mysql.q(plan.table)} MODIFY {mysql.q(plan.column)} {plan.column_definition} NULL"
                 + (f" DEFAULT {plan.default}" if plan.default is not None else ""))
    return [comment, *[line for s in up for line in _execute(s)]], down, \
        [_allow(rule, target, plan) for rule, target in allows]


def contract_body(plan: ChangePlan) -> tuple[list[str], list[str], list[str]]:
    if plan.dialect == "mysql":
        return _contract_mysql(plan)
    if plan.kind == sql.RENAME_TABLE:
        return (["# both tables first, waiting at most 100 ms for each: each version's writes reach the other",
                 "# table through a trigger, so locks taken one statement at a time could deadlock with a write and",
                 "# fail it; this way the revision gives up first (well within deadlock_timeout) and is retried",
                 "op.execute(\"SET LOCAL lock_timeout = '100ms'\")",
                 *_execute(f"LOCK TABLE {sql.q(plan.table)}, {sql.q(plan.new_table or '')} IN ACCESS EXCLUSIVE MODE"),
                 "op.execute(\"SET LOCAL lock_timeout = '5s'\")",
                 f"# the sequences {plan.table} owns move to {plan.new_table}, then {plan.table} goes",
                 *[line for s in tables.contract(plan) for line in _execute(s)]],
                ["# a contract drops data: it is undone by restoring a backup, or by a new expand–contract change",
                 f"raise NotImplementedError('the contract of {plan.name} dropped {plan.table}')"],
                [_allow("drop-table", plan.table, plan)])
    table = sql.q(plan.table)
    up: list[str] = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")"]
    allows: list[str] = []
    down = ["# a contract drops data: it is undone by restoring a backup, or by a new expand–contract change",
            f"raise NotImplementedError('the contract of {plan.name} dropped {plan.table}.{plan.column}')"] \
        if plan.kind != sql.SET_NOT_NULL else []
    if plan.kind in sql.TWO_COLUMNS:
        new = plan.new_column or ""
        if plan.not_null:
            name = sql.check_name(plan)
            up += ["# the check added NOT VALID by the expand proves NOT NULL once validated (no long lock)",
                   *_execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {sql.q(name)}"),
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(new)} SET NOT NULL"),
                   *_execute(f"ALTER TABLE {table} DROP CONSTRAINT {sql.q(name)}")]
            allows += [_allow("set-not-null", f"{plan.table}.{new}", plan),
                       _allow("drop-constraint", f"{plan.table}.{name}", plan)]
        if plan.default is not None and plan.kind == sql.RENAME_COLUMN:  # a new type may change what it means
            up += [f"# the default of {plan.column} moves to {new}",
                   *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(new)} SET DEFAULT {plan.default}")]
        up += [line for s in sql.drop_trigger(plan) for line in _execute(s)]
        up += _execute(f"ALTER TABLE {table} DROP COLUMN {sql.q(plan.column)}")
        allows.append(_allow("drop-column", f"{plan.table}.{plan.column}", plan))
        for index in (CarriedIndex(**i) for i in plan.indexes):  # type: ignore[arg-type]
            if index.new_constraint:
                up += [f"# {index.constraint} again, on the index the expand built (a catalog change, no scan)",
                       *_execute(f"ALTER TABLE {table} ADD CONSTRAINT {sql.q(index.new_constraint)} "
                                 f"UNIQUE USING INDEX {sql.q(index.new_name)}")]
    elif plan.kind == sql.DROP_COLUMN:
        up += _execute(f"ALTER TABLE {table} DROP COLUMN {sql.q(plan.column)}")
        allows.append(_allow("drop-column", f"{plan.table}.{plan.column}", plan))
    else:
        name = sql.check_name(plan)
        up += ["# every row was filled by the backfill: validating scans without blocking writes",
               *_execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {sql.q(name)}"),
               *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} SET NOT NULL"),
               *_execute(f"ALTER TABLE {table} DROP CONSTRAINT {sql.q(name)}"),
               *[line for s in sql.drop_trigger(plan) for line in _execute(s)]]
        allows += [_allow("set-not-null", f"{plan.table}.{plan.column}", plan),
                   _allow("drop-constraint", f"{plan.table}.{name}", plan)]
        down = ["op.execute(\"SET LOCAL lock_timeout = '5s'\")",
                *_execute(f"ALTER TABLE {table} ALTER COLUMN {sql.q(plan.column)} DROP NOT NULL")]
    return up, down, allows


def model_steps(plan: ChangePlan) -> list[str]:
    """What the models look like at each of the three deploys (printed, and in the revisions' docstrings)."""
    t, c = plan.table, plan.column
    if plan.kind == sql.RENAME_TABLE:
        n = plan.new_table
        return [
            f"Deploy 1 (expand): declare {n} in the models beside {t}, with the same columns (a second class, or a "
            f"Table); the application keeps using {t} (the triggers copy every write):\n"
            f"    class {_class(n)}(Base):\n        __tablename__ = {n!r}\n        ...  # the columns of {t}",
            f"Deploy 2 (after `safemigrate change backfill {plan.name}`): the application reads and writes {n}; "
            f"{t} stays declared but unused (the triggers fill it for the old version).",
            f"Deploy 3 (contract): remove {t} from the models.",
        ]
    if plan.kind in sql.TWO_COLUMNS:
        n = plan.new_column
        kind = f"<the type of {c}: {plan.column_type}>" if not plan.new_type else f"<{plan.new_type}>"
        return [
            f"Deploy 1 (expand): add {n} to the model of {t}, nullable, beside {c}; the application keeps "
            f"reading and writing {c} (the trigger {'copies' if not plan.new_type else 'converts'} it):\n"
            f"    {c}: Mapped[...] = mapped_column(...)  # unchanged\n"
            f"    {n}: Mapped[... | None] = mapped_column({kind}, nullable=True)",
            f"Deploy 2 (after `safemigrate change backfill {plan.name}`): the application reads and writes {n}; "
            f"{c} stays in the table but leaves the mapping (the trigger fills it for the old version):\n"
            f"    {c}: Unmapped[...] = unmapped_column(...)  # SQLAlchemy 2.1; on 2.0: "
            f"__mapper_args__ = {{'exclude_properties': [{c!r}]}}\n"
            f"    {n}: Mapped[...] = mapped_column(...)",
            f"Deploy 3 (contract): remove {c} from the model of {t}"
            + (f"; {n} becomes NOT NULL (nullable=False)" if plan.not_null else "") + "."
            + (f" The default of {c} ({plan.default}) is not carried to {n}: give {n} a server_default of its "
               "new type in a revision of its own if it needs one." if plan.default and plan.new_type else ""),
        ]
    if plan.kind == sql.DROP_COLUMN:
        return [
            f"Deploy 1 (expand): the application stops writing {t}.{c}"
            + (" (it is no longer NOT NULL)" if plan.not_null else "") + "; keep it in the model.",
            f"Deploy 2: {c} leaves the mapping but stays in the table:\n"
            f"    {c}: Unmapped[...] = unmapped_column(...)  # SQLAlchemy 2.1; on 2.0: "
            f"__mapper_args__ = {{'exclude_properties': [{c!r}]}}",
            f"Deploy 3 (contract): remove {c} from the model of {t}.",
        ]
    return [
        f"Deploy 1 (expand): the application writes {t}.{c} on every insert (the trigger fills {plan.fill} "
        "when it does not); the model is unchanged.",
        f"Deploy 2 (after `safemigrate change backfill {plan.name}`): nothing to change in the model.",
        f"Deploy 3 (contract): {c} becomes nullable=False in the model of {t}.",
    ]


def _class(table: str | None) -> str:
    return "".join(part.capitalize() for part in (table or "").split("_"))
