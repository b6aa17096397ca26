"""Generate a large, realistic synthetic safemigrate project (for benchmarks).

    python benchmarks/synthetic.py OUT_DIR --tables 300 --revisions 500 [--seed N]

OUT_DIR receives:

* ``pyproject.toml`` with ``[tool.safemigrate]`` (metadata = synth.models:Base.metadata),
* ``alembic.ini`` (script_location, prepend_sys_path, quiet logging),
* ``synth/models.py``: N declarative models (integer PK, 4-8 columns of
  String/Integer/Numeric/Boolean/DateTime/Text, server defaults, NOT NULL and
  nullable columns, foreign keys to earlier tables, indexes, unique
  constraints, names from a MetaData naming convention),
* ``migrations/`` (env.py calling safemigrate.env.run_migrations, Alembic's
  generic script.py.mako) with M revisions in one linear history: the first
  ones create the tables (several per revision when there are more tables than
  creation revisions), the rest add columns, indexes, unique constraints and
  foreign keys to existing tables, in the style of ``alembic revision
  --autogenerate`` with ``render_as_batch``.

The head schema matches the models exactly on SQLite and PostgreSQL
(``alembic check`` reports "No new upgrade operations detected."). Output is
deterministic for a given (tables, revisions, seed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEED = 20240601
MARKER = ".safemigrate-synthetic"
MAX_IDENTIFIER = 63  # PostgreSQL's limit

# -- vocabulary ----------------------------------------------------------------
_DOMAINS = ["acct", "crm", "inv", "hr", "ops", "web", "pay", "ship", "cat", "mkt", "sup", "rpt"]
_NOUNS = [
    "accounts", "invoices", "contacts", "orders", "items", "payments", "refunds", "vendors",
    "shipments", "parcels", "carriers", "stores", "regions", "teams", "employees", "shifts",
    "tickets", "comments", "articles", "pages", "sessions", "events", "campaigns", "coupons",
    "products", "variants", "prices", "stock", "batches", "audits", "reports", "budgets",
    "ledgers", "entries", "tags", "notes", "tasks", "projects", "assets", "devices",
]

_COLUMNS: dict[str, list[str]] = {
    "str": ["name", "title", "code", "label", "email", "phone", "slug", "status", "reference", "city",
            "country_code", "currency", "external_id", "username", "kind", "source", "locale", "color"],
    "int": ["quantity", "position", "priority", "version", "retries", "score", "rank_value", "views",
            "capacity", "attempts", "sequence_no", "level"],
    "num": ["amount", "price", "balance", "cost", "tax", "discount", "total", "weight", "rate"],
    "bool": ["is_active", "is_archived", "is_public", "is_verified", "enabled", "flagged", "is_default"],
    "dt": ["created_at", "updated_at", "archived_at", "expires_at", "published_at", "synced_at",
           "starts_at", "ends_at"],
    "text": ["notes", "description", "body", "payload", "details", "summary"],
}
_STRING_DEFAULTS = {"status": "new", "kind": "standard", "source": "web", "locale": "en", "currency": "EUR",
                    "color": "blue"}
_KIND_WEIGHTS = [("str", 30), ("int", 14), ("num", 12), ("bool", 12), ("dt", 16), ("text", 8)]

_VERBS = {
    "create": "create", "add_columns": "add", "add_index": "index", "add_unique": "unique",
}


# -- the schema ------------------------------------------------------------------
@dataclass
class Column:
    name: str
    kind: str  # str int num bool dt text fk
    nullable: bool
    length: int | None = None
    timezone: bool = False
    default: str | None = None  # a key of _DEFAULT_RENDER, or "str:<value>"
    ref: str | None = None  # referred table (kind == "fk")
    ondelete: str | None = None
    index: bool = False
    unique: bool = False

    @property
    def late_ok(self) -> bool:
        """Can be added to an existing table (a NOT NULL column needs a default)."""
        return self.nullable or self.default is not None


@dataclass
class Table:
    name: str
    cls: str
    columns: list[Column] = field(default_factory=list)
    indexes: list[tuple[str, list[str]]] = field(default_factory=list)  # composite, explicit names
    uniques: list[list[str]] = field(default_factory=list)  # composite, names from the convention

    def col(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _check_len(name: str) -> str:
    if len(name) > MAX_IDENTIFIER:
        raise ValueError(f"identifier {name!r} is longer than {MAX_IDENTIFIER} characters")
    return name


def fk_name(table: str, col: Column) -> str:
    return _check_len(f"fk_{table}_{col.name}_{col.ref}")


def ix_name(table: str, cols: list[str]) -> str:
    return _check_len(f"ix_{table}_" + "_".join(cols))


def uq_name(table: str, cols: list[str]) -> str:
    return _check_len(f"uq_{table}_" + "_".join(cols))


def _table_names(rng: random.Random, count: int) -> list[str]:
    combos = [f"{d}_{n}" for d in _DOMAINS for n in _NOUNS]
    rng.shuffle(combos)
    names = combos[:count]
    i = 0
    while len(names) < count:
        names.append(f"{combos[i % len(combos)]}_{i // len(combos) + 2}")
        i += 1
    return names


def _class_name(table: str, taken: set[str]) -> str:
    base = "".join(part.capitalize() for part in table.split("_"))
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    taken.add(name)
    return name


def _pick_kind(rng: random.Random) -> str:
    kinds, weights = zip(*_KIND_WEIGHTS, strict=True)
    return rng.choices(kinds, weights)[0]


def _plain_column(rng: random.Random, kind: str, name: str) -> Column:
    col = Column(name, kind, nullable=rng.random() < 0.45)
    if kind == "str":
        col.length = rng.choice([2, 8, 20, 32, 50, 80, 120, 200, 255])
        if name in _STRING_DEFAULTS and rng.random() < 0.6:
            col.default, col.nullable = f"str:{_STRING_DEFAULTS[name]}", False
            col.length = max(col.length, 20)  # the default must fit
    elif kind == "int":
        if rng.random() < 0.5:
            col.default, col.nullable = "zero", False
    elif kind == "num":
        if rng.random() < 0.4:
            col.default, col.nullable = "zero_money", False
    elif kind == "bool":
        col.nullable = False
        col.default = rng.choice(["true", "false"]) if rng.random() < 0.85 else None
    elif kind == "dt":
        col.timezone = rng.random() < 0.5
        if name in {"created_at", "updated_at"} or rng.random() < 0.2:
            col.default, col.nullable = "now", False
    return col


def build_schema(tables: int, seed: int) -> list[Table]:
    rng = random.Random(seed)
    names = _table_names(rng, tables)
    taken: set[str] = set()
    schema: list[Table] = []
    for i, name in enumerate(names):
        table = Table(name, _class_name(name, taken))
        width = rng.randint(4, 8)  # columns besides the primary key
        n_fk = 0 if i == 0 else rng.choices([0, 1, 2], [30, 50, 20])[0]
        n_fk = min(n_fk, i, width - 2)
        for ref in rng.sample(names[:i], n_fk):
            nullable = rng.random() < 0.4
            ondelete = rng.choice([None, "CASCADE", "SET NULL"] if nullable else [None, "CASCADE"])
            table.columns.append(Column(f"{ref}_id", "fk", nullable, ref=ref, ondelete=ondelete,
                                        index=rng.random() < 0.8))
        used = {c.name for c in table.columns}
        while len(table.columns) < width:
            kind = _pick_kind(rng)
            choices = [n for n in _COLUMNS[kind] if n not in used]
            if not choices:
                continue
            cname = rng.choice(choices)
            used.add(cname)
            table.columns.append(_plain_column(rng, kind, cname))
        # single-column indexes and unique constraints
        for col in table.columns:
            if col.kind == "str" and col.name in {"code", "email", "slug", "reference", "external_id",
                                                   "username"} and rng.random() < 0.5:
                col.unique = True
            elif col.kind in {"str", "dt", "int"} and rng.random() < 0.15:
                col.index = True
        # composite indexes / unique constraints
        candidates = [c.name for c in table.columns if c.kind in {"fk", "str", "dt", "int"} and not c.unique]
        if len(candidates) >= 2 and rng.random() < 0.3:
            cols = rng.sample(candidates, 2)
            table.indexes.append((ix_name(name, cols), cols))
        if len(candidates) >= 2 and rng.random() < 0.2:
            cols = rng.sample(candidates, 2)
            if cols not in [ix for _, ix in table.indexes]:
                table.uniques.append(cols)
        for col in table.columns:  # names must fit
            if col.kind == "fk":
                fk_name(name, col)
            if col.index:
                ix_name(name, [col.name])
            if col.unique:
                uq_name(name, [col.name])
        for cols in table.uniques:
            uq_name(name, cols)
        schema.append(table)
    return schema


# -- the history -----------------------------------------------------------------
@dataclass
class Change:
    """One table's part of an alter revision."""

    table: str
    columns: list[str] = field(default_factory=list)
    indexes: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, cols): single or composite
    uniques: list[list[str]] = field(default_factory=list)


@dataclass
class Revision:
    rev: str
    down: str | None
    slug: str
    message: str
    date: dt.datetime
    creates: list[str] = field(default_factory=list)  # table names
    change: Change | None = None


def plan_history(schema: list[Table], revisions: int, seed: int) -> tuple[list[Revision], dict[str, dict]]:
    """Revisions, and what each table has at creation (the rest comes later)."""
    rng = random.Random(seed + 1)
    n_tables = len(schema)
    n_create = min(n_tables, max(1, revisions - max(1, revisions // 3)))
    n_alter = revisions - n_create
    by_name = {t.name: t for t in schema}

    # Which features arrive later: one Change per alter revision.
    late_cols: dict[str, set[str]] = {t.name: set() for t in schema}
    late_ix: dict[str, set[str]] = {t.name: set() for t in schema}  # index names
    late_uq: dict[str, set[tuple[str, ...]]] = {t.name: set() for t in schema}

    def index_list(t: Table) -> list[tuple[str, list[str]]]:
        singles = [(ix_name(t.name, [c.name]), [c.name]) for c in t.columns if c.index]
        return singles + t.indexes

    def unique_list(t: Table) -> list[list[str]]:
        return [[c.name] for c in t.columns if c.unique] + t.uniques

    def column_change(t: Table) -> Change | None:
        initial_plain = [c for c in t.columns if c.name not in late_cols[t.name] and c.kind != "fk"]
        pool = [c for c in t.columns if c.name not in late_cols[t.name] and c.late_ok]
        rng.shuffle(pool)
        chosen: list[Column] = []
        wanted = rng.choice([1, 1, 2])
        for col in pool:
            if len(chosen) == wanted:
                break
            if col.kind != "fk" and len([c for c in initial_plain if c not in chosen]) <= 2:
                continue  # keep at least two plain columns in the CREATE TABLE
            deps_ix = [(n, cs) for n, cs in index_list(t) if col.name in cs]
            deps_uq = [cs for cs in unique_list(t) if col.name in cs]
            if any(n in late_ix[t.name] for n, _ in deps_ix) or any(tuple(cs) in late_uq[t.name] for cs in deps_uq):
                continue  # an index on it was already scheduled earlier
            chosen.append(col)
        if not chosen:
            return None
        change = Change(t.name, columns=[c.name for c in chosen])
        names = {c.name for c in chosen}
        for n, cs in index_list(t):
            if names & set(cs) and n not in late_ix[t.name]:
                change.indexes.append((n, cs))
        for cs in unique_list(t):
            if names & set(cs) and tuple(cs) not in late_uq[t.name]:
                change.uniques.append(cs)
        return change

    def index_change(t: Table) -> Change | None:
        options = [(n, cs) for n, cs in index_list(t) if n not in late_ix[t.name]]
        if not options:
            return None
        n, cs = rng.choice(options)
        return Change(t.name, indexes=[(n, cs)])

    def unique_change(t: Table) -> Change | None:
        options = [cs for cs in unique_list(t) if tuple(cs) not in late_uq[t.name]]
        if not options:
            return None
        return Change(t.name, uniques=[rng.choice(options)])

    changes: list[Change] = []
    attempts = 0
    while len(changes) < n_alter:
        attempts += 1
        if attempts > 50 * max(n_alter, 1) + 1000:
            raise SystemExit(
                f"{n_tables} tables cannot supply {n_alter} alter revisions: use more tables or fewer revisions."
            )
        t = by_name[schema[rng.randrange(n_tables)].name]
        maker = rng.choices([column_change, index_change, unique_change], [60, 25, 15])[0]
        change = maker(t)
        if change is None:
            continue
        late_cols[t.name].update(change.columns)
        late_ix[t.name].update(n for n, _ in change.indexes)
        late_uq[t.name].update(tuple(cs) for cs in change.uniques)
        changes.append(change)

    used: set[str] = set()

    def new_id() -> str:
        while True:
            rev = f"{rng.getrandbits(48):012x}"
            if rev not in used:
                used.add(rev)
                return rev

    start = dt.datetime(2023, 1, 9, 9, 0, 0)
    history: list[Revision] = []
    down: str | None = None
    per = [n_tables // n_create + (1 if i < n_tables % n_create else 0) for i in range(n_create)]
    pos = 0
    for i in range(revisions):
        date = start + dt.timedelta(hours=7 * i, minutes=rng.randrange(60), seconds=rng.randrange(60),
                                    microseconds=rng.randrange(1_000_000))
        rev = new_id()
        if i < n_create:
            names = [t.name for t in schema[pos:pos + per[i]]]
            pos += per[i]
            message = (f"create {', '.join(names)}" if len(names) <= 3
                       else f"create {names[0]} and {len(names) - 1} more tables")
            slug = "create_" + names[0] + ("_and_more" if len(names) > 1 else "")
            history.append(Revision(rev, down, slug, message, date, creates=names))
        else:
            change = changes[i - n_create]
            parts = []
            if change.columns:
                parts.append(f"add {', '.join(change.columns)}")
            if change.indexes:
                parts.append(f"index {', '.join('(' + ', '.join(cs) + ')' for _, cs in change.indexes)}")
            if change.uniques:
                parts.append(f"unique {', '.join('(' + ', '.join(cs) + ')' for cs in change.uniques)}")
            message = f"{change.table}: " + "; ".join(parts)
            first = ("add_" + "_".join(change.columns) if change.columns
                     else "index" if change.indexes else "unique")
            slug = f"{change.table}_{first}"[:60]
            history.append(Revision(rev, down, slug, message, date, change=change))
        down = rev
    initial = {t.name: {"late_cols": late_cols[t.name], "late_ix": late_ix[t.name], "late_uq": late_uq[t.name]}
               for t in schema}
    return history, initial


# -- rendering: models -------------------------------------------------------------
_PY_TYPES = {"str": "str", "text": "str", "int": "int", "fk": "int", "num": "Decimal", "bool": "bool",
             "dt": "datetime"}
_MODEL_DEFAULTS = {"now": "NOW", "zero": "ZERO", "zero_money": "ZERO_MONEY", "true": "TRUE", "false": "FALSE"}
_MIGRATION_DEFAULTS = {"now": 'sa.text("CURRENT_TIMESTAMP")', "zero": 'sa.text("0")',
                       "zero_money": 'sa.text("0.00")', "true": '"1"', "false": '"0"'}


def _model_type(col: Column) -> str:
    return {
        "str": f"sa.String({col.length})", "text": "sa.Text", "int": "sa.Integer", "num": "sa.Numeric(12, 2)",
        "bool": "sa.Boolean", "dt": "sa.DateTime(timezone=True)" if col.timezone else "sa.DateTime",
    }[col.kind]


def _migration_type(col: Column) -> str:
    return {
        "str": f"sa.String(length={col.length})", "text": "sa.Text()", "int": "sa.Integer()", "fk": "sa.Integer()",
        "num": "sa.Numeric(precision=12, scale=2)", "bool": "sa.Boolean()",
        "dt": "sa.DateTime(timezone=True)" if col.timezone else "sa.DateTime()",
    }[col.kind]


def _default(col: Column, table: dict[str, str]) -> str:
    assert col.default is not None
    if col.default.startswith("str:"):
        return repr(col.default[4:]).replace("'", '"')
    return table[col.default]


def render_models(schema: list[Table]) -> str:
    out = [
        '"""Synthetic models generated by benchmarks/synthetic.py (do not edit by hand)."""',
        "",
        "from __future__ import annotations",
        "",
        "from datetime import datetime",
        "from decimal import Decimal",
        "",
        "import sqlalchemy as sa",
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column",
        "",
        "NAMING_CONVENTION = {",
        '    "ix": "ix_%(column_0_N_label)s",',
        '    "uq": "uq_%(table_name)s_%(column_0_N_name)s",',
        '    "ck": "ck_%(table_name)s_%(constraint_name)s",',
        '    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",',
        '    "pk": "pk_%(table_name)s",',
        "}",
        "",
        'NOW = sa.text("CURRENT_TIMESTAMP")',
        'ZERO = sa.text("0")',
        'ZERO_MONEY = sa.text("0.00")',
        'TRUE = "1"',
        'FALSE = "0"',
        "",
        "",
        "class Base(DeclarativeBase):",
        "    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)",
    ]
    for t in schema:
        out += ["", "", f"class {t.cls}(Base):", f'    __tablename__ = "{t.name}"']
        args = [f"sa.UniqueConstraint({', '.join(repr(c).replace(chr(39), chr(34)) for c in cs)})" for cs in t.uniques]
        args += [f'sa.Index("{n}", {", ".join(chr(34) + c + chr(34) for c in cs)})' for n, cs in t.indexes]
        if args:
            out.append("    __table_args__ = (")
            out += [f"        {a}," for a in args]
            out.append("    )")
        out += ["", "    id: Mapped[int] = mapped_column(primary_key=True)"]
        for c in t.columns:
            kw: list[str] = []
            if c.kind == "fk":
                fk = f'sa.ForeignKey("{c.ref}.id"' + (f', ondelete="{c.ondelete}"' if c.ondelete else "") + ")"
                kw.append(fk)
            else:
                kw.append(_model_type(c))
            if c.default is not None:
                kw.append(f"server_default={_default(c, _MODEL_DEFAULTS)}")
            if c.index:
                kw.append("index=True")
            if c.unique:
                kw.append("unique=True")
            kw.append(f"nullable={c.nullable}")
            py = _PY_TYPES[c.kind] + (" | None" if c.nullable else "")
            out.append(f"    {c.name}: Mapped[{py}] = mapped_column({', '.join(kw)})")
    return "\n".join(out) + "\n"


# -- rendering: migrations -----------------------------------------------------------
def _q(s: str) -> str:
    return f'"{s}"'


def _column_ddl(c: Column) -> str:
    parts = [_q(c.name), _migration_type(c)]
    if c.default is not None:
        parts.append(f"server_default={_default(c, _MIGRATION_DEFAULTS)}")
    parts.append(f"nullable={c.nullable}")
    return f"sa.Column({', '.join(parts)})"


def _cols(cs: list[str]) -> str:
    return "[" + ", ".join(_q(c) for c in cs) + "]"


def _create_table(t: Table, late: dict) -> tuple[list[str], list[str]]:
    cols = [c for c in t.columns if c.name not in late["late_cols"]]
    up = ["    op.create_table(", f"        {_q(t.name)},", '        sa.Column("id", sa.Integer(), nullable=False),']
    up += [f"        {_column_ddl(c)}," for c in cols]
    for c in cols:
        if c.kind == "fk":
            extra = f", ondelete={_q(c.ondelete)}" if c.ondelete else ""
            up.append(f'        sa.ForeignKeyConstraint([{_q(c.name)}], ["{c.ref}.id"], '
                      f"name=op.f({_q(fk_name(t.name, c))}){extra}),")
    up.append(f'        sa.PrimaryKeyConstraint("id", name=op.f("pk_{t.name}")),')
    for c in cols:
        if c.unique and (c.name,) not in late["late_uq"]:
            up.append(f"        sa.UniqueConstraint({_q(c.name)}, name=op.f({_q(uq_name(t.name, [c.name]))})),")
    for cs in t.uniques:
        if tuple(cs) not in late["late_uq"] and not set(cs) & late["late_cols"]:
            up.append(f"        sa.UniqueConstraint({', '.join(_q(c) for c in cs)}, "
                      f"name=op.f({_q(uq_name(t.name, cs))})),")
    up.append("    )")
    indexes = [(ix_name(t.name, [c.name]), [c.name]) for c in cols if c.index] + t.indexes
    indexes = [(n, cs) for n, cs in indexes if n not in late["late_ix"] and not set(cs) & late["late_cols"]]
    down: list[str] = []
    if indexes:
        up.append(f"    with op.batch_alter_table({_q(t.name)}, schema=None) as batch_op:")
        up += [f"        batch_op.create_index(batch_op.f({_q(n)}), {_cols(cs)}, unique=False)" for n, cs in indexes]
        down.append(f"    with op.batch_alter_table({_q(t.name)}, schema=None) as batch_op:")
        down += [f"        batch_op.drop_index(batch_op.f({_q(n)}))" for n, _ in reversed(indexes)]
        down.append("")
    down.append(f"    op.drop_table({_q(t.name)})")
    return up, down


def _alter_table(t: Table, change: Change) -> tuple[list[str], list[str]]:
    up = [f"    with op.batch_alter_table({_q(t.name)}, schema=None) as batch_op:"]
    down = [f"    with op.batch_alter_table({_q(t.name)}, schema=None) as batch_op:"]
    cols = [t.col(n) for n in change.columns]
    up += [f"        batch_op.add_column({_column_ddl(c)})" for c in cols]
    up += [f"        batch_op.create_index(batch_op.f({_q(n)}), {_cols(cs)}, unique=False)" for n, cs in change.indexes]
    up += [f"        batch_op.create_unique_constraint(batch_op.f({_q(uq_name(t.name, cs))}), {_cols(cs)})"
           for cs in change.uniques]
    for c in cols:
        if c.kind == "fk":
            extra = f", ondelete={_q(c.ondelete)}" if c.ondelete else ""
            up.append(f"        batch_op.create_foreign_key(batch_op.f({_q(fk_name(t.name, c))}), {_q(c.ref)}, "
                      f'[{_q(c.name)}], ["id"]{extra})')
    for c in reversed(cols):
        if c.kind == "fk":
            down.append(f'        batch_op.drop_constraint(batch_op.f({_q(fk_name(t.name, c))}), type_="foreignkey")')
    down += [f'        batch_op.drop_constraint(batch_op.f({_q(uq_name(t.name, cs))}), type_="unique")'
             for cs in reversed(change.uniques)]
    down += [f"        batch_op.drop_index(batch_op.f({_q(n)}))" for n, _ in reversed(change.indexes)]
    down += [f"        batch_op.drop_column({_q(c.name)})" for c in reversed(cols)]
    return up, down


def render_revision(rev: Revision, schema: dict[str, Table], initial: dict[str, dict]) -> str:
    up: list[str] = []
    down: list[str] = []
    if rev.creates:
        for name in rev.creates:
            u, d = _create_table(schema[name], initial[name])
            up += (u + [""])
            down = d + [""] + down
    else:
        assert rev.change is not None
        up, down = _alter_table(schema[rev.change.table], rev.change)
    while up and not up[-1]:
        up.pop()
    while down and not down[-1]:
        down.pop()
    return "\n".join([
        f'"""{rev.message}',
        "",
        f"Revision ID: {rev.rev}",
        f"Revises: {rev.down or ''}",
        f"Create Date: {rev.date.isoformat(' ')}",
        "",
        '"""',
        "from typing import Sequence, Union",
        "",
        "from alembic import op",
        "import sqlalchemy as sa",
        "",
        "",
        "# revision identifiers, used by Alembic.",
        f"revision: str = {rev.rev!r}",
        f"down_revision: Union[str, Sequence[str], None] = {rev.down!r}",
        "branch_labels: Union[str, Sequence[str], None] = None",
        "depends_on: Union[str, Sequence[str], None] = None",
        "",
        "",
        "def upgrade() -> None:",
        '    """Upgrade schema."""',
        *up,
        "",
        "",
        "def downgrade() -> None:",
        '    """Downgrade schema."""',
        *down,
        "",
    ]).replace("'", '"')


# -- the project files ----------------------------------------------------------------
PYPROJECT = """\
[project]
name = "synth"
version = "0.1.0"
description = "Synthetic project generated by safemigrate's benchmarks/synthetic.py"
requires-python = ">=3.11"
dependencies = ["SQLAlchemy>=2.0", "alembic>=1.13"]

[tool.safemigrate]
metadata = "synth.models:Base.metadata"
script_location = "migrations"
"""

ALEMBIC_INI = """\
# Alembic configuration of the synthetic benchmark project.
# The database URL comes from $DATABASE_URL (read by safemigrate.env.run_migrations).

[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
path_separator = os

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = WARNING
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

ENV_PY = "from safemigrate.env import run_migrations\n\nrun_migrations()\n"


def _script_template() -> str:
    import alembic

    return (Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako").read_text()


def generate(out_dir: str | Path, tables: int = 300, revisions: int = 500, seed: int = DEFAULT_SEED) -> Path:
    """Write the project into ``out_dir`` (replacing an earlier generated one) and return its path."""
    if tables < 1 or revisions < 1:
        raise ValueError("tables and revisions must be at least 1")
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise SystemExit(f"{out} exists, is not empty and was not made by synthetic.py: refusing to replace it.")
        shutil.rmtree(out)
    schema = build_schema(tables, seed)
    history, initial = plan_history(schema, revisions, seed)
    by_name = {t.name: t for t in schema}

    (out / "synth").mkdir(parents=True)
    (out / "migrations" / "versions").mkdir(parents=True)
    (out / MARKER).write_text(f"tables={tables} revisions={revisions} seed={seed}\n")
    (out / ".gitignore").write_text("*.db\n__pycache__/\n")
    (out / "pyproject.toml").write_text(PYPROJECT)
    (out / "alembic.ini").write_text(ALEMBIC_INI)
    (out / "synth" / "__init__.py").write_text("")
    (out / "synth" / "models.py").write_text(render_models(schema))
    (out / "migrations" / "env.py").write_text(ENV_PY)
    (out / "migrations" / "script.py.mako").write_text(_script_template())
    for rev in history:
        path = out / "migrations" / "versions" / f"{rev.rev}_{rev.slug}.py"
        path.write_text(render_revision(rev, by_name, initial))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write the project into (replaced if made by this script)")
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--revisions", type=int, default=500)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    out = generate(args.out_dir, args.tables, args.revisions, args.seed)
    print(f"wrote {out}: {args.tables} tables, {args.revisions} revisions (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
