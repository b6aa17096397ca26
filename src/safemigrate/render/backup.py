"""Terminal (rich) and Markdown renderings of the backup results; they only format."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from safemigrate.backup.results import BackupList, BackupResult, PruneResult, RestoreResult, VerifyResult


def size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _checks(console: Console, result: VerifyResult) -> None:
    for check in result.checks:
        mark = ("✓ ", "green") if check.ok else ("✗ ", "bold red")
        console.print(Text.assemble("  ", mark, (check.name, "bold"), f": {check.message}"))


def created(console: Console, result: BackupResult) -> None:
    m = result.manifest
    console.print(Text.assemble(("✓ backup ", "bold green"), (result.id, "bold"),
                                f" — {m.backend} {m.database_name}, {size(m.size)} in {result.duration_s:.1f}s "
                                f"({result.rate_mib_s} MiB/s)"))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("dump", result.location)
    grid.add_row("manifest", result.manifest_location)
    grid.add_row("database", m.database)
    grid.add_row("revision", f"{m.from_revision or '(none)'} → {m.to_revision or '(no migration planned)'}")
    grid.add_row("sha256", m.sha256)
    grid.add_row("verified", result.verify.level)
    console.print(grid)
    _checks(console, result.verify)
    if result.pruned:
        console.print(Text(f"retention removed {len(result.pruned)} old backup(s): {', '.join(result.pruned)}",
                           style="dim"))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))


def created_md(result: BackupResult) -> str:
    m = result.manifest
    lines = [f"### Backup `{result.id}`", "", f"- dump: `{result.location}` ({size(m.size)})",
             f"- database: `{m.database}` ({m.backend} {m.server_version})",
             f"- revision: `{m.from_revision}` → `{m.to_revision or 'no migration planned'}`",
             f"- sha256: `{m.sha256}`", f"- verified ({result.verify.level}):"]
    lines += [f"  - {'✓' if c.ok else '✗'} {c.name}: {c.message}" for c in result.verify.checks]
    lines += [f"- note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def listed(console: Console, result: BackupList) -> None:
    if not result.backups:
        console.print(f"No backups in {result.location}.")
        return
    table = Table(title=Text(f"Backups in {result.location}"), title_justify="left")
    for column in ("id", "environment", "revision", "size", "finished", "status"):
        table.add_column(column, overflow="fold")
    for b in result.backups:
        revision = f"{b.from_revision or '-'} → {b.to_revision or '-'}" if b.complete else ""
        status = Text("complete", style="green") if b.complete else Text("incomplete (no manifest)", style="red")
        table.add_row(b.id, b.environment or "", revision, size(b.size), (b.finished_at or "")[:19], status)
    console.print(table)


def listed_md(result: BackupList) -> str:
    lines = [f"### Backups in `{result.location}`", "", "| id | environment | revision | size | finished | status |",
             "|---|---|---|---|---|---|"]
    for b in result.backups:
        lines.append(f"| `{b.id}` | {b.environment or ''} | {b.from_revision or '-'} → {b.to_revision or '-'} | "
                     f"{size(b.size)} | {(b.finished_at or '')[:19]} | "
                     f"{'complete' if b.complete else 'incomplete (no manifest)'} |")
    return "\n".join(lines) + "\n"


def verified(console: Console, result: VerifyResult) -> None:
    console.print(Text.assemble(("✓ " if result.ok else "✗ ", "bold green" if result.ok else "bold red"),
                                f"backup {result.id} ({result.level}): ", result.location))
    _checks(console, result)


def verified_md(result: VerifyResult) -> str:
    lines = [f"### Backup `{result.id}`: {'verified' if result.ok else 'FAILED verification'} ({result.level})", ""]
    lines += [f"- {'✓' if c.ok else '✗'} {c.name}: {c.message}" for c in result.checks]
    return "\n".join(lines) + "\n"


def restored(console: Console, result: RestoreResult) -> None:
    where = "new database " if result.created_database else ""
    console.print(Text.assemble(("✓ restored ", "bold green"), (result.id, "bold"), f" into {where}{result.target} "
                                f"in {result.duration_s:.1f}s"))
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))


def restored_md(result: RestoreResult) -> str:
    return f"Restored `{result.id}` into `{result.target}` in {result.duration_s:.1f}s.\n"


def pruned(console: Console, result: PruneResult) -> None:
    verb = "would delete" if result.dry_run else "deleted"
    console.print(Text.assemble((f"{verb} {len(result.deleted)} backup(s)", "bold"), f" in {result.location}; "
                                f"kept {len(result.kept)}"))
    for backup_id in result.deleted:
        console.print(f"  - {backup_id}")
    for backup_id in result.incomplete_deleted:
        console.print(f"  - {backup_id} (incomplete)")


def pruned_md(result: PruneResult) -> str:
    verb = "Would delete" if result.dry_run else "Deleted"
    return (f"{verb} {len(result.deleted)} backup(s) in `{result.location}`, kept {len(result.kept)}.\n"
            + "".join(f"- `{b}`\n" for b in result.deleted + result.incomplete_deleted))
