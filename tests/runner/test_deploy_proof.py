"""A deploy with nothing to do reuses the proof an earlier one recorded (runner/proof.py, state/proofs.py).

Each test checks what the proof changes (whether the history was rebuilt, what the preflight concluded) and
that every change to an input or to the live schema takes the full comparison again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import configure_backup
from helpers import execute, scalar, upgrade

from safemigrate import Project
from safemigrate.runner.preflight import PROVEN

HEAD = "d5f6b1370600"


def _migrate(project: Path, url: str, scratch: str | None):
    report = Project.from_pyproject(project, database_url=url, scratch_url=scratch,
                                    environment="production").migrate()
    checks = {c.name: c for c in report.checks}
    return report, checks


def _reused(checks) -> bool:
    return checks["no out-of-band changes"].message.startswith(PROVEN)


def _server(request, backend: str) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{request.getfixturevalue('tmp_path') / 'live.db'}", None
    name = "pg" if backend == "postgresql" else "mysql"
    return request.getfixturevalue(f"{name}_url"), request.getfixturevalue(f"{name}_server")


@pytest.mark.parametrize("backend", ["postgresql", "mysql", "sqlite"])
def test_second_deploy_with_nothing_to_do_reuses_the_proof(shop, tmp_path, request, backend):
    url, scratch = _server(request, backend)
    upgrade(shop, url)
    configure_backup(shop, url=str(tmp_path / "backups"))
    first, checks = _migrate(shop, url, scratch)
    assert first.ok and first.verified and not _reused(checks)
    assert scalar(url, "SELECT heads FROM safemigrate_schema_proof") == HEAD
    second, checks = _migrate(shop, url, scratch)
    assert second.ok and second.verified and _reused(checks), checks["no out-of-band changes"].message
    assert "proven" in checks["models match head"].message
    assert not second.applied and second.backup is None


@pytest.mark.postgres
def test_a_schema_change_by_hand_after_the_proof_is_found(shop, tmp_path, pg_url, pg_server):
    upgrade(shop, pg_url)
    configure_backup(shop, url=str(tmp_path / "backups"))
    _migrate(shop, pg_url, pg_server)
    execute(pg_url, "CREATE INDEX ix_by_hand ON customers (full_name)")
    report, checks = _migrate(shop, pg_url, pg_server)
    assert not report.ok and not _reused(checks)
    assert not checks["no out-of-band changes"].ok and "ix_by_hand" in checks["no out-of-band changes"].message


@pytest.mark.postgres
@pytest.mark.parametrize("edit", ["env.py", "a module a revision imports", "the models"])
def test_a_changed_input_takes_the_full_comparison_again(shop, tmp_path, pg_url, pg_server, edit):
    (shop / "shop" / "naming.py").write_text("PREFIX = 'ix'\n")
    revision = next((shop / "migrations" / "versions").glob(f"{HEAD}_*.py"))
    revision.write_text("from shop.naming import PREFIX  # noqa: F401\n" + revision.read_text())
    upgrade(shop, pg_url)
    configure_backup(shop, url=str(tmp_path / "backups"))
    first, _ = _migrate(shop, pg_url, pg_server)
    assert first.ok, [(c.name, c.message) for c in first.checks if not c.ok]
    if edit == "env.py":
        env = shop / "migrations" / "env.py"
        env.write_text(env.read_text() + "\n# a comment changes the bytes\n")
    elif edit == "a module a revision imports":
        (shop / "shop" / "naming.py").write_text("PREFIX = 'idx'\n")
    else:
        models = shop / "shop" / "models.py"
        models.write_text(models.read_text().replace(
            "    full_name: Mapped[str]", "    nickname: Mapped[str | None] = mapped_column(sa.String(40))\n"
            "    full_name: Mapped[str]", 1))
    report, checks = _migrate(shop, pg_url, pg_server)
    if edit == "the models":  # the proof holds, the live comparison with the models finds the new column
        assert _reused(checks) and not checks["models match head"].ok
        assert "nickname" in checks["models match head"].message
    else:
        assert report.ok and not _reused(checks)


@pytest.mark.postgres
def test_a_forged_proof_is_not_reused(shop, tmp_path, pg_url, pg_server):
    upgrade(shop, pg_url)
    configure_backup(shop, url=str(tmp_path / "backups"))
    _migrate(shop, pg_url, pg_server)
    execute(pg_url, "CREATE INDEX ix_by_hand ON customers (full_name)",
            "UPDATE safemigrate_schema_proof SET schema = repeat('0', 64)")
    report, checks = _migrate(shop, pg_url, pg_server)
    assert not report.ok and not _reused(checks)


@pytest.mark.postgres
def test_applying_revisions_records_no_proof_the_next_run_proves_again(shop, tmp_path, pg_url, pg_server):
    upgrade(shop, pg_url, "359940d6ad08")
    configure_backup(shop, url=str(tmp_path / "backups"))
    pyproject = shop / "pyproject.toml"  # the shop's history predates its lint policy
    pyproject.write_text(pyproject.read_text().replace("[tool.safemigrate]\n",
                                                       f'[tool.safemigrate]\nstart_after = "{HEAD}"\n', 1))
    applied, _ = _migrate(shop, pg_url, pg_server)
    assert [a.revision for a in applied.applied] == [HEAD]
    assert scalar(pg_url, "SELECT to_regclass('safemigrate_schema_proof') IS NULL")
    again, checks = _migrate(shop, pg_url, pg_server)
    assert again.ok and not _reused(checks)
    third, checks = _migrate(shop, pg_url, pg_server)
    assert third.ok and _reused(checks)
