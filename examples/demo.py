"""The tour in under a minute, on a copy of the bundled shop example, with SQLite only.

Run it with `make demo`. It copies examples/shop to a temporary folder (the
repository is never changed) and tells one change's story, as a user would:

1. alembic upgrade head           the development and production databases are at head (plain Alembic)
2. safemigrate status             in sync
3. (an index is added to the models: Order.created_at)
4. safemigrate check              the change no migration makes is caught, with the DDL that does it
                                  safely on PostgreSQL (CREATE INDEX CONCURRENTLY) (exit 1, expected)
5. (a teammate hand-writes the revision: op.create_index on orders)
6. safemigrate lint               explains why it would block writes to orders, with the fix (exit 1)
7. (the hand-written revision is deleted)
8. safemigrate migrate            development: writes the revision through the guard and applies it
9. safemigrate migrate            production: every preflight check, a verified backup, apply, verify
10. safemigrate backup list       the backup taken before the revision

It ends green: every step ends with the exit code it should, the last ones 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

NEW_INDEX = '        sa.Index("ix_orders_created_at", "created_at"),\n'
ANCHOR = '        sa.Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),\n'
HAND_WRITTEN = '''"""index orders by date

Revision ID: 7a3c2e91b0d4
Revises: {head}
"""
from alembic import op

revision = "7a3c2e91b0d4"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_orders_created_at", "orders", ["created_at"])


def downgrade():
    op.drop_index("ix_orders_created_at", table_name="orders")
'''


def bold(text: str) -> str:
    """Bold on a terminal; plain when piped to a file or a pager, or with NO_COLOR set."""
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[1m{text}\033[0m"
    return text


def say(text: str) -> None:
    print("\n" + bold(f"# {text}"), flush=True)


def step(title: str, *command: str, cwd: Path, env: dict[str, str]) -> int:
    print(f"\n{bold('$ ' + ' '.join(command))}   # {title}", flush=True)
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, env=env)
    print(f"(exit code {result.returncode})", flush=True)
    return result.returncode


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="safemigrate-demo-") as tmp:
        project = Path(tmp) / "shop"
        shutil.copytree(HERE / "shop", project, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
        backups = Path(tmp) / "backups"
        with (project / "pyproject.toml").open("a") as pyproject:
            pyproject.write(f'\n[tool.safemigrate.backup]\nurl = "{backups}"\n')
        base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
        base.setdefault("COLUMNS", "110")
        dev = {**base, "APP_ENV": "development", "DATABASE_URL": "sqlite:///dev.db"}
        prod = {**base, "APP_ENV": "production", "DATABASE_URL": "sqlite:///prod.db"}
        versions = project / "migrations" / "versions"
        head = "d5f6b1370600"
        assert list(versions.glob(f"{head}_*.py")), "the demo expects examples/shop's head revision"
        codes: dict[str, int] = {}

        codes["upgrade dev"] = step("the development database, with plain Alembic", "alembic", "upgrade", "head",
                                    cwd=project, env=dev)
        codes["upgrade prod"] = step("and production: both at head", "alembic", "upgrade", "head",
                                     cwd=project, env=prod)
        codes["status"] = step("where development stands", "safemigrate", "status", cwd=project, env=dev)

        models = project / "shop" / "models.py"
        source = models.read_text()
        assert ANCHOR in source, "the demo expects the orders index in shop/models.py"
        models.write_text(source.replace(ANCHOR, ANCHOR + NEW_INDEX, 1))
        say('a developer adds sa.Index("ix_orders_created_at", "created_at") to Order in shop/models.py')
        codes["check"] = step("no migration builds it yet: caught, with the DDL that builds it safely on "
                              "PostgreSQL", "safemigrate", "check", "--dialect", "postgresql", cwd=project, env=dev)

        hand_written = versions / "7a3c2e91b0d4_index_orders_by_date.py"
        hand_written.write_text(HAND_WRITTEN.format(head=head))
        say(f"a teammate writes the revision by hand: {hand_written.relative_to(project)}")
        codes["lint"] = step("what it would do to a live orders table, and the fix", "safemigrate", "lint",
                             "--dialect", "postgresql", "7a3c2e91b0d4", cwd=project, env=dev)
        hand_written.unlink()
        say("the hand-written revision is deleted: safemigrate writes the revision itself")
        codes["migrate dev"] = step("development: the revision written through the guard, and applied",
                                    "safemigrate", "migrate", cwd=project, env=dev)
        codes["migrate prod"] = step("production: every check first, a verified backup, then apply and verify",
                                     "safemigrate", "migrate", cwd=project, env=prod)
        codes["backup list"] = step("the backup taken before the revision", "safemigrate", "backup", "list",
                                    cwd=project, env=prod)

        expected = {"upgrade dev": 0, "upgrade prod": 0, "status": 0, "check": 1, "lint": 1, "migrate dev": 0,
                    "migrate prod": 0, "backup list": 0}
        wrong = {k: (codes[k], v) for k, v in expected.items() if codes[k] != v}
        print(f"\nDemo told one change's story on examples/shop (SQLite) in {time.monotonic() - started:.0f} s.")
        if wrong:
            print(f"Unexpected exit codes (got, expected): {wrong}")
            return 1
        print("Every step ended with the exit code it should: the drift and the risky revision were caught "
              "(exit 1), the safe revision is applied in development and in production, after a verified backup.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
