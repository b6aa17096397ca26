"""Running the rules over SQL, keeping the context a revision builds up."""

from __future__ import annotations

from collections.abc import Iterable

from pglast import ast
from pglast.enums import TransactionStmtKind

from safemigrate.guard.analysis import sql as sqlmod
from safemigrate.guard.analysis.pgcreated import learn_created
from safemigrate.guard.model import Category, Context, Finding, Severity
from safemigrate.guard.registry import RULES, Rule, load_rules

UNPARSABLE = "unparsable-statement"


def lint_sql(text: str, context: Context, *, rules: Iterable[Rule] | None = None,
             categories: set[Category] | None = None) -> list[Finding]:
    """Findings for ``text`` (one or more statements) in ``context``.

    ``context`` is updated as statements go by (tables created, lock_timeout
    set), so call this in statement order for one revision.
    """
    load_rules()
    chosen = [r for r in (rules if rules is not None else RULES.values())
              if context.dialect in r.dialects and (categories is None or r.category in categories)]
    findings: list[Finding] = []
    for statement in sqlmod.parse(text, context.dialect):
        if isinstance(statement, sqlmod.Unparsed):
            findings.append(Finding(
                UNPARSABLE, Severity.WARNING, Category.LOCKING,
                f"safemigrate could not parse this statement ({statement.error}), so no rule checked it.",
                "Check it by hand, or report it if it is valid SQL.", "", statement.text,
            ))
            continue
        # a rule that declares the statement types it looks at (pg.looks_at) is skipped for others,
        # unless the statement carries more (a DO block, a function, a rule)
        node = statement.node
        typed = isinstance(statement, sqlmod.PgStatement) and not isinstance(node, sqlmod.CARRIERS)
        for rule in chosen:
            kinds = getattr(rule.check, "node_types", None)
            if typed and kinds is not None and not isinstance(node, kinds):
                continue
            for violation in rule.check(statement, context):
                findings.append(Finding(
                    rule.id, rule.severity, rule.category, violation.message, violation.help,
                    violation.target.lower(), statement.text, violation.fix, context.revision,
                ))
        _learn(statement, context)
    return findings


def _learn(statement: sqlmod.PgStatement | sqlmod.GlotStatement, context: Context) -> None:
    node = statement.node
    if isinstance(statement, sqlmod.PgStatement):
        learn_created(node, context)
        if isinstance(node, ast.VariableSetStmt) and (node.name or "").lower() == "lock_timeout":
            context.lock_timeout_set = True
        elif isinstance(node, ast.TransactionStmt):
            if node.kind in (TransactionStmtKind.TRANS_STMT_BEGIN, TransactionStmtKind.TRANS_STMT_START):
                context.in_transaction = True
            elif node.kind in (TransactionStmtKind.TRANS_STMT_COMMIT, TransactionStmtKind.TRANS_STMT_ROLLBACK):
                context.in_transaction = False
    else:
        import sqlglot.expressions as exp

        # IF NOT EXISTS may create nothing, and a TEMPORARY table only hides the real one for this session:
        # neither makes the name a table of this revision (a later DROP of that name drops the real table)
        properties = node.args.get("properties") if isinstance(node, exp.Create) else None
        temporary = properties is not None and properties.find(exp.TemporaryProperty) is not None
        if (isinstance(node, exp.Create) and (node.kind or "").upper() == "TABLE" and not node.args.get("exists")
                and not temporary):
            table = node.find(exp.Table)
            if table is not None:
                context.created_tables.add(table.name.lower())
        elif isinstance(node, exp.Create) and (node.kind or "").upper() == "VIEW" and not node.args.get("replace"):
            view = node.find(exp.Table)  # CREATE OR REPLACE VIEW may replace a view the application reads
            if view is not None:
                context.created_views.add(view.name.lower())
