"""drop-enum-value-or-rename: ALTER TYPE ... RENAME VALUE, ALTER TYPE ... RENAME TO, DROP TYPE."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import (
    ObjectType,
    is_cascade,
    looks_at,
    object_name,
    placed,
    sign_off_fix,
    statements_run,
    string_values,
)
from safemigrate.guard.analysis.sql import ParsedStatement
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("drop-enum-value-or-rename", severity="error", category="destructive",
      summary="Renaming an enum value or a type, or dropping a type, breaks code still using it",
      dialects=("postgresql",))
@looks_at(ast.AlterEnumStmt, ast.RenameStmt, ast.DropStmt)
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Renaming a value of an enum type rewrites what every row holds: running code
    that still writes or compares the old value fails. Renaming a type breaks
    casts to it, and dropping one fails while a column still uses it, or with
    CASCADE drops those columns and their data. Whether a type is still in use
    cannot be known from the migration, so every DROP TYPE is reported.

    Bad::

        def upgrade():
            op.execute("ALTER TYPE order_status RENAME VALUE 'shipped' TO 'dispatched'")

    Good::

        # 1. add the new value (outside the transaction: a new value cannot be used before commit):
        def upgrade():
            with op.get_context().autocommit_block():
                op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'dispatched'")

        # 2. write 'dispatched' in the code and deploy, then move the rows over:
        #    UPDATE orders SET status = 'dispatched' WHERE status = 'shipped'
        # 3. stop accepting 'shipped' in the code; leave the unused value in the type.
    """
    if statement.dialect != "postgresql":
        return
    for node, where, _ in statements_run(statement.node, context):
        if isinstance(node, ast.AlterEnumStmt) and node.oldVal is not None:
            yield placed(_rename_value(".".join(string_values(node.typeName)), node.oldVal, node.newVal or ""), where)
        elif isinstance(node, ast.RenameStmt) and node.renameType in (ObjectType.OBJECT_TYPE,
                                                                      ObjectType.OBJECT_DOMAIN):
            name = object_name(node.object)
            yield placed(Violation(
                message=f"Renaming type `{name}` to `{node.newname}` breaks every running instance that still "
                        "casts to or names the old type.",
                help="Keep the old name until no code uses it (SQLAlchemy `Enum(name=...)` names the type), or "
                     "sign the rename off if nothing refers to it.",
                target=name,
                fix=sign_off_fix("drop-enum-value-or-rename", name, "no code names it",
                                 f'op.execute("ALTER TYPE {name} RENAME TO {node.newname}")'),
            ), where)
        elif isinstance(node, ast.DropStmt) and node.removeType == ObjectType.OBJECT_TYPE:
            for obj in node.objects or ():
                yield placed(_drop_type(object_name(obj), is_cascade(node)), where)


def _rename_value(type_: str, old: str, new: str) -> Violation:
    return Violation(
        message=f"Renaming value '{old}' of type `{type_}` to '{new}' changes every row that holds it, and "
                f"breaks every running instance that still writes or compares '{old}'.",
        help=f"Add '{new}' with ALTER TYPE ... ADD VALUE, make the code write it, move the rows over with an "
             f"UPDATE, and leave '{old}' unused in the type.",
        target=type_,
        fix=("def upgrade():\n"
             "    with op.get_context().autocommit_block():\n"
             f"        op.execute(\"ALTER TYPE {type_} ADD VALUE IF NOT EXISTS '{new}'\")\n"
             f"# then, once the code writes '{new}', in a later revision:\n"
             f"#     UPDATE <table> SET <column> = '{new}' WHERE <column> = '{old}'"),
    )


def _drop_type(type_: str, cascade: bool) -> Violation:
    if cascade:
        message = (f"Dropping type `{type_}` with CASCADE also drops every column of that type, with its data, "
                   "and breaks every running instance that still uses them.")
    else:
        message = (f"Dropping type `{type_}` breaks every running instance that still uses it, and fails while "
                   "a column is still of that type.")
    return Violation(
        message=message,
        help="Drop or convert the columns that use the type first (each one its own, signed-off change), then "
             "drop the type without CASCADE with an explicit sign-off.",
        target=type_,
        fix=sign_off_fix("drop-enum-value-or-rename", type_, "no column uses it", f'op.execute("DROP TYPE {type_}")'),
    )
