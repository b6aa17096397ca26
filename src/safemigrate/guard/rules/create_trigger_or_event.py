"""create-trigger-or-event: MySQL/MariaDB CREATE TRIGGER on a table the revision did not create, CREATE EVENT."""

from __future__ import annotations

from collections.abc import Iterator

from safemigrate.guard.analysis.pg import glot_trigger_or_event, py_str, sign_off_fix
from safemigrate.guard.analysis.sql import ParsedStatement, exp
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule


@rule("create-trigger-or-event", severity="error", category="destructive",
      summary="A trigger or an event runs SQL later, outside any migration",
      dialects=("mysql",))
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """A trigger on an existing table runs its SQL on every later write to that table,
    an event on a schedule: in production, from then on, where no migration check
    sees what it does, and MySQL/MariaDB commit it at once (it is not rolled back
    with the revision). The run-time guard refuses it before it is sent; this rule
    shows it before the deploy. A trigger on a table created earlier in the same
    revision is not reported.

    Bad::

        def upgrade():
            op.execute("CREATE EVENT purge_sessions ON SCHEDULE EVERY 1 DAY "
                       "DO DELETE FROM sessions WHERE expires_at < NOW()")

    Good::

        # run the cleanup from the application's scheduler, or review it and sign it off:
        from safemigrate import allow

        def upgrade():
            with allow("create-trigger-or-event", "purge_sessions", reason="deletes expired rows only, #301"):
                op.execute("CREATE EVENT purge_sessions ON SCHEDULE EVERY 1 DAY "
                           "DO DELETE FROM sessions WHERE expires_at < NOW()")
    """
    if not isinstance(statement.node, exp.Command) or str(statement.node.this).upper() != "CREATE":
        return
    created = glot_trigger_or_event(statement.text)
    if created is None:
        return
    kind, name, table = created
    if kind == "trigger":
        if not table or context.is_new_table(table):
            return
        yield _violation(f"Trigger `{name}` on `{table}` runs its SQL on every later write to `{table}`", table,
                         statement.text)
    else:
        yield _violation(f"Event `{name}` runs its SQL on a schedule", name, statement.text)


def _violation(what: str, target: str, sql: str) -> Violation:
    return Violation(
        message=f"{what}, in production, where no migration check sees what it does; MySQL commits it at once.",
        help="Do the work in the application (or its scheduler) or in the migration itself; if the trigger or "
             "event is needed, review what it runs and sign it off.",
        target=target,
        fix=sign_off_fix("create-trigger-or-event", target, "what it runs, reviewed in <ticket>",
                         f"op.execute({py_str(' '.join(sql.split()))})"),
    )
