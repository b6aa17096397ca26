"""affects-the-server: statements whose effect reaches beyond the migrated database."""

from __future__ import annotations

from collections.abc import Iterator

from pglast import ast

from safemigrate.guard.analysis.pg import executed_nodes, placed, sign_off_fix, statements_run, string_values
from safemigrate.guard.analysis.sql import ParsedStatement, leading_words
from safemigrate.guard.model import Context, Violation
from safemigrate.guard.registry import rule

#: Server functions whose effect is outside the database: other sessions, the server's files and settings.
_SERVER_FUNCTIONS = {
    "pg_terminate_backend": "ends another session", "pg_cancel_backend": "cancels another session's query",
    "pg_reload_conf": "reloads the server's configuration", "pg_rotate_logfile": "rotates the server's log",
    "pg_promote": "promotes a standby", "lo_export": "writes a file on the server",
    "lo_import": "reads a file of the server", "pg_read_file": "reads a file of the server",
    "pg_read_binary_file": "reads a file of the server", "pg_ls_dir": "lists a folder of the server",
    "pg_file_write": "writes a file on the server", "dblink_exec": "runs SQL in another database",
    "dblink": "runs SQL in another database", "pg_replication_origin_create": "changes replication",
}
_SERVER_STATEMENTS: dict[type, str] = {
    ast.CreateRoleStmt: "creates a role", ast.AlterRoleStmt: "changes a role", ast.DropRoleStmt: "drops a role",
    ast.AlterRoleSetStmt: "changes a role's settings", ast.GrantRoleStmt: "grants or revokes a role",
    ast.CreatedbStmt: "creates a database", ast.AlterDatabaseStmt: "changes a database",
    ast.AlterDatabaseSetStmt: "changes a database's settings", ast.AlterSystemStmt: "changes the server's settings",
    ast.CreateTableSpaceStmt: "creates a tablespace", ast.DropTableSpaceStmt: "drops a tablespace",
    ast.LoadStmt: "loads a library into the server", ast.CreateSubscriptionStmt: "subscribes to another server",
    ast.AlterSubscriptionStmt: "changes a subscription", ast.DropSubscriptionStmt: "drops a subscription",
}
#: The first words of MySQL/MariaDB statements whose effect is outside the database.
_MYSQL_COMMANDS = {"KILL": "ends another session", "CREATE USER": "creates a user", "DROP USER": "drops a user",
                   "ALTER USER": "changes a user", "RENAME USER": "renames a user", "GRANT": "grants privileges",
                   "REVOKE": "revokes privileges", "SET GLOBAL": "changes the server's settings",
                   "SET PASSWORD": "changes a password", "INSTALL": "installs a plugin", "SHUTDOWN": "stops the server",
                   "FLUSH": "flushes the server's caches or logs", "PURGE": "purges the server's logs"}


@rule("affects-the-server", severity="error", category="destructive",
      summary="A statement whose effect reaches beyond the migrated database",
      dialects=("postgresql", "mysql"))
def check(statement: ParsedStatement, context: Context) -> Iterator[Violation]:
    """Roles, other databases, the server's files and settings and other sessions are
    shared by every database on the server. A migration that changes them changes
    them for everything else there: on a throwaway database (safemigrate's check,
    lint and dry runs build one, often on a shared server) as much as in
    production. safemigrate refuses these statements on throwaway databases and
    reports them; deploy them as an operations step, or sign them off.

    Bad::

        def upgrade():
            op.execute("CREATE ROLE reporting LOGIN")
            op.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'shop'")

    Good::

        # roles and server settings belong to the server's provisioning (Terraform, Ansible...);
        # a migration only grants on its own tables to a role that already exists:
        def upgrade():
            op.execute("GRANT SELECT ON orders TO reporting")
    """
    if statement.dialect == "postgresql":
        for node, where, _ in statements_run(statement.node, context):
            for item in executed_nodes(node):
                what = _SERVER_STATEMENTS.get(type(item))
                if isinstance(item, ast.CopyStmt) and (item.filename or item.is_program):
                    what = "runs a program on the server" if item.is_program else "reads or writes a file on the server"
                elif isinstance(item, ast.FuncCall):
                    name = (string_values(item.funcname) or [""])[-1].lower()
                    what = _SERVER_FUNCTIONS.get(name)
                if what is not None:
                    yield placed(_violation(statement.text, what), where)
    elif statement.dialect == "mysql":
        words = leading_words(statement.text, "mysql", 3)
        for command, what in _MYSQL_COMMANDS.items():
            if words[: len(command.split())] == command.split():
                yield _violation(statement.text, what)
                return
        upper = set(leading_words(statement.text, "mysql", 10_000))
        if {"INTO", "OUTFILE"} <= upper or {"INTO", "DUMPFILE"} <= upper or {"LOAD", "INFILE"} <= upper:
            yield _violation(statement.text, "reads or writes a file on the server")


def _violation(sql: str, what: str) -> Violation:
    short = " ".join(sql.split())
    short = short if len(short) <= 80 else short[:77] + "..."
    return Violation(
        message=f"`{short}` {what}: its effect reaches beyond the migrated database, to everything else on the "
                "server (a throwaway database's server too).",
        help="Do it as an operations step outside the migrations (roles and settings belong to the server's "
             "provisioning), or sign it off if this revision really must do it.",
        target="server",
        fix=sign_off_fix("affects-the-server", "server", "why this revision must change the server",
                         f"op.execute({sql.strip()!r})"),
    )
