"""``safemigrate init``: adopt an existing Alembic project or scaffold one."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import tomlkit

from safemigrate.config.settings import PYPROJECT, load_settings
from safemigrate.core.errors import ConfigError
from safemigrate.core.paths import relative
from safemigrate.core.results import InitReport
from safemigrate.init.discover import find_existing, find_in_package, metadata_of_env_py
from safemigrate.project.models import import_metadata
from safemigrate.project.scripts import uses_helper

SNIPPET = "from safemigrate.env import run_migrations\n\nrun_migrations()"


def init_project(root: Path | str, *, metadata: str | list[str] | None = None, script_location: str | None = None,
                 database_url_env: str = "DATABASE_URL", environment_env: str = "APP_ENV",
                 github: bool = False, package: str | None = None) -> InitReport:
    """Adopt or scaffold the Alembic setup in ``root`` and write ``[tool.safemigrate]``.

    ``github`` also writes the GitHub Actions workflows (pull-request check and
    post-merge autofix) into the repository's ``.github/workflows``.

    Everything is validated before the first file is written, so a failure
    leaves the project as it was.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder.", "init writes its files into the project folder.",
                          "Run it from (or point --project at) the project's root folder.")
    pyproject = root / PYPROJECT
    document = _read(pyproject)
    existing_table = document.get("tool", {}).get("safemigrate")
    if metadata:
        if ":" not in metadata:
            raise ConfigError(f"--metadata {metadata!r} is not an import path.",
                              "safemigrate imports the models' MetaData from it.",
                              "Write it as 'package.module:Base.metadata'.")
        import_metadata(metadata, root)  # fails with a clear message before anything is written

    written: list[str] = []
    notes: list[str] = []
    named: str | None = None
    if package:
        found = find_in_package(package, root)
        existing: Path | None = found.location
        named = found.script_location
    elif script_location and (root / script_location / "env.py").is_file():
        existing = (root / script_location).resolve()
    else:
        existing = find_existing(root) if not script_location else None
    if existing is not None:
        location = existing
        snippet = None if uses_helper(location / "env.py") else SNIPPET
        if not metadata:
            metadata = _models_of(location / "env.py", root, notes)
    else:
        location = root / (script_location or "migrations")
        if location.exists() and any(location.iterdir()):
            raise ConfigError(f"{location} exists and is not empty, and holds no env.py.",
                              "init will not write into a folder it does not understand.",
                              "Pass --script-location with a new folder name, or empty that folder.")
        snippet = None
    rel_location = named or relative(location, root)

    settings: dict[str, str | list[str]] = {}
    if metadata:
        settings["metadata"] = metadata
    settings.update(script_location=rel_location, database_url_env=database_url_env,
                    environment_env=environment_env)

    if existing is None:
        (location / "versions").mkdir(parents=True, exist_ok=True)
        templates = resources.files("safemigrate") / "templates"
        (location / "env.py").write_text(templates.joinpath("env.py").read_text())
        (location / "script.py.mako").write_text(templates.joinpath("script.py.mako").read_text())
        (location / "versions" / ".gitkeep").write_text("")
        written += [f"{rel_location}/env.py", f"{rel_location}/script.py.mako", f"{rel_location}/versions/"]
        if not (root / "alembic.ini").exists():
            ini = templates.joinpath("alembic.ini").read_text().replace("{script_location}", rel_location)
            (root / "alembic.ini").write_text(ini)
            written.append("alembic.ini")

    tool = document.setdefault("tool", tomlkit.table(is_super_table=True))
    if existing_table is None:
        table = tomlkit.table()
        for key, value in settings.items():
            table[key] = value
        if not metadata:
            table.add(tomlkit.comment('metadata = "yourpackage.models:Base.metadata"  # the models\' MetaData'))
        tool["safemigrate"] = table
    else:
        for key, value in settings.items():
            if key not in existing_table or key == "metadata":
                existing_table[key] = value
        notes.append("[tool.safemigrate] already existed: its keys were kept, missing ones added.")
    pyproject.write_text(tomlkit.dumps(document))
    written.append(f"{PYPROJECT} [tool.safemigrate]")
    if not metadata:
        notes.append("Set metadata in [tool.safemigrate] (e.g. 'shop.models:Base.metadata'), unless env.py "
                     "already passes target_metadata.")
    load_settings(root)  # what we wrote must read back
    ignored = _ignore_local_files(root)
    if ignored:
        written.append(f".gitignore ({', '.join(ignored)})")
    if github:
        from safemigrate.init.workflows import write_workflows

        for item in write_workflows(root):
            if item.written:
                written.append(relative(item.path, root))
            else:
                notes.append(f"{relative(item.path, root)} already exists and was left as it is "
                             "(delete it and rerun `safemigrate init --github` to get the current version).")
    return InitReport(root=str(root), adopted=existing is not None, script_location=rel_location,
                      written=written, snippet=snippet, settings=settings, notes=notes)


#: What safemigrate keeps beside the project that is never committed: the heads cache and the migrator lock
#: of a SQLite database (``<database>.safemigrate.lock``).
GITIGNORE_LINES = (".safemigrate/", "*.safemigrate.lock")


def _ignore_local_files(root: Path) -> list[str]:
    """Add the lines of :data:`GITIGNORE_LINES` that ``.gitignore`` lacks (created if missing); return them."""
    path = root / ".gitignore"
    text = path.read_text() if path.is_file() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in present and "/" + line not in present]
    if missing:
        block = "# safemigrate: local cache and SQLite migrator locks\n" + "\n".join(missing) + "\n"
        path.write_text(text + ("\n" if text and not text.endswith("\n") else "") + block)
    return missing


def _models_of(env_py: Path, root: Path, notes: list[str]) -> str | list[str] | None:
    """env.py's target_metadata as an import path, when it imports cleanly; None otherwise."""
    found = metadata_of_env_py(env_py, root)
    if found is None:
        return None
    try:
        import_metadata(found, root)
    except ConfigError as exc:
        notes.append(f"env.py's target_metadata ({found}) could not be imported here ({exc.what}); metadata was "
                     "left unset, and safemigrate will use env.py's target_metadata when it runs env.py.")
        return None
    notes.append(f"metadata = {found!r} was read from env.py's target_metadata.")
    return found


def _read(pyproject: Path) -> tomlkit.TOMLDocument:
    if not pyproject.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(pyproject.read_text())
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML: {exc}.",
                          "init adds its settings to that file and will not rewrite a file it cannot parse.",
                          "Fix the syntax first.") from None
