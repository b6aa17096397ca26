"""The 60-second tour, on a copy of the bundled shop example, with SQLite only.

Run it with `make demo`. It copies examples/shop to a temporary folder (the
repository is never changed) and runs, as a user would:

1. safemigrate status        the database is empty: every revision is pending
2. safemigrate review A:B    the SQL two revisions really send
3. alembic upgrade head      apply the history
4. safemigrate status        in sync
5. safemigrate check         models and migrations agree
6. (a column is added to the models without a migration)
7. safemigrate check         the drift is caught, with the DDL that fixes it (exit 1)
8. safemigrate check --live  the live database lacks it too
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def bold(text: str) -> str:
    """Bold on a terminal; plain when piped to a file or a pager, or with NO_COLOR set."""
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[1m{text}\033[0m"
    return text


def step(title: str, *command: str, cwd: Path, env: dict[str, str]) -> int:
    print(f"\n{bold('$ ' + ' '.join(command))}   # {title}", flush=True)
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=cwd, env=env)
    print(f"(exit code {result.returncode})", flush=True)
    return result.returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="safemigrate-demo-") as tmp:
        project = Path(tmp) / "shop"
        shutil.copytree(HERE / "shop", project, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SAFEMIGRATE_DATABASE_URL"}}
        env["APP_ENV"] = "development"
        env.setdefault("COLUMNS", "110")
        versions = sorted(p.stem.split("_")[0] for p in (project / "migrations" / "versions").glob("*.py"))
        codes = {
            "status (empty database)": step("a new database: everything is pending", "safemigrate", "status",
                                            cwd=project, env=env),
            "review": step("the SQL of the product-sku revision, captured from a real upgrade",
                           "safemigrate", "review", "474785f50e38:e1bc5fb903a2", cwd=project, env=env),
            "upgrade": step("apply the history with plain Alembic", "alembic", "upgrade", "head",
                            cwd=project, env=env),
            "status": step("now in sync", "safemigrate", "status", cwd=project, env=env),
            "check": step("models vs. migrations", "safemigrate", "check", cwd=project, env=env),
        }
        models = project / "shop" / "models.py"
        source = models.read_text()
        marker = "class Customer(Base):"
        assert marker in source, "the demo expects a Customer model"
        head, _, tail = source.partition(marker)
        body_start = tail.index('__tablename__ = "customers"') + len('__tablename__ = "customers"')
        tail = (tail[:body_start] + '\n    nickname: Mapped[str | None] = mapped_column(sa.String(40))'
                + tail[body_start:])
        models.write_text(head + marker + tail)
        print("\n" + bold("# a developer adds Customer.nickname to shop/models.py and forgets the migration"))
        codes["check (drift)"] = step("the drift is caught", "safemigrate", "check", cwd=project, env=env)
        codes["check --live (drift)"] = step("and the live database lacks it too", "safemigrate", "check",
                                             "--live", cwd=project, env=env)
        expected = {"status (empty database)": 1, "review": 0, "upgrade": 0, "status": 0, "check": 0,
                    "check (drift)": 1, "check --live (drift)": 1}
        wrong = {k: (codes[k], v) for k, v in expected.items() if codes[k] != v}
        print(f"\nDemo ran {len(versions)} revisions of examples/shop on SQLite.")
        if wrong:
            print(f"Unexpected exit codes (got, expected): {wrong}")
            return 1
        print("Every step ended with the exit code it should.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
