"""Drive safemigrate over real PyPI projects that ship Alembic migrations.

    python benchmarks/realworld/run.py                 # every project of projects.toml not marked skip
    python benchmarks/realworld/run.py buildbot nova   # only these (skipped ones too, when named)
    python benchmarks/realworld/run.py --list          # the corpus

Each project gets its own venv under $SAFEMIGRATE_REALWORLD_CACHE (default
~/.cache/safemigrate-realworld), reused while its pins are unchanged. safemigrate is installed
into it from the repository this script lives in (non-editable), or from $SAFEMIGRATE_SOURCE.
A work folder holds a pyproject.toml with the project's [tool.safemigrate]. Then, in that venv,
with --format json: check (SQLite, PostgreSQL, MariaDB as the project supports), review, lint,
and check --live against a database created by the project's own tooling, beside plain Alembic's
compare_metadata on that same database. One table is printed; the results are written as JSON
(results/latest.json in the cache) and compared with the previous run.

Needs PostgreSQL on 127.0.0.1:5432 (postgres, trust) and MariaDB on 127.0.0.1:3306 (root, no
password); override with $SAFEMIGRATE_TEST_POSTGRES_URL / $SAFEMIGRATE_TEST_MYSQL_URL (server
URLs, their database part is ignored). Uses `uv` when it is on PATH (much faster), else pip.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = HERE / "projects.toml"

PG_SERVER = os.environ.get("SAFEMIGRATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MY_SERVER = os.environ.get("SAFEMIGRATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql")
DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}

# Run inside the project's venv: plain Alembic's comparison of a database with the models.
COMPARE = r'''
import importlib, json, sys
from sqlalchemy import create_engine, MetaData
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata
url, models = sys.argv[1], json.loads(sys.argv[2])
metas = []
for path in models:
    mod, _, attr = path.partition(":")
    obj = importlib.import_module(mod)
    if not attr:  # a module to import first (it registers more tables)
        continue
    if attr.endswith("()"):  # a function to call first (it imports the models), e.g. import_all_models()
        getattr(obj, attr[:-2])()
        continue
    for part in attr.split("."):
        obj = getattr(obj, part)
    if callable(obj) and not isinstance(obj, MetaData):
        obj = obj()
    meta = getattr(obj, "metadata", obj) if not isinstance(obj, MetaData) else obj
    if all(meta is not m for m in metas):  # several modules may fill one MetaData
        metas.append(meta)
target = metas[0] if len(metas) == 1 else metas
def key(d):  # "kind table.object", the form safemigrate's differences are compared in
    kind, obj = d[0], d[1] if len(d) > 1 else None
    if kind in ("add_table", "remove_table"):
        return f"{kind} {obj.name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {d[2]}.{d[3].name}"
    if kind.startswith("modify_"):
        return f"{kind} {d[2]}.{d[3]}"
    table = getattr(getattr(obj, "table", None), "name", None) or getattr(obj, "parent", None)
    name = getattr(obj, "name", None)
    return f"{kind} {table}.{name}" if name else f"{kind} {table}"  # unnamed: as safemigrate writes it
out = {}
engine = create_engine(url)
with engine.connect() as conn:
    for label, opts in (("default", {}), ("server_default", {"compare_server_default": True})):
        try:
            diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), target)
            flat = [x for d in diffs for x in (d if isinstance(d, list) else [d])]
            out[label] = {"count": len(diffs), "sample": [repr(d)[:200] for d in diffs[:8]],
                          "items": sorted(key(x) for x in flat)}
        except Exception as exc:
            out[label] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
print(json.dumps(out))
'''

# Run inside the project's venv: `alembic upgrade heads` with the project's ini and env.py.
UPGRADE = r'''
import sys
from alembic import command
from alembic.config import Config
ini, location, url = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = Config(ini) if ini else Config()
cfg.set_main_option("script_location", location)
cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
command.upgrade(cfg, "heads")
'''

# Run inside the project's venv: create or drop a database on a server.
ADMIN = r'''
import sys
from sqlalchemy import create_engine, text
server, action, name = sys.argv[1], sys.argv[2], sys.argv[3]
engine = create_engine(server, isolation_level="AUTOCOMMIT")
q = '"' if engine.dialect.name == "postgresql" else "`"
with engine.connect() as conn:
    if action == "user":  # MySQL/MariaDB: an account with a password (name = "user:password"), for tools that need one
        user, password = name.split(":", 1)
        for host in ("%", "127.0.0.1", "localhost"):
            conn.execute(text(f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY '{password}'"))
            conn.execute(text(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'{host}'"))
        sys.exit(0)
    if engine.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
    conn.execute(text(f"DROP DATABASE IF EXISTS {q}{name}{q}"))
    if action == "create":
        conn.execute(text(f"CREATE DATABASE {q}{name}{q}"))
'''


def load_corpus() -> list[dict]:
    return tomllib.loads(CORPUS.read_text())["project"]


def cache_dir() -> Path:
    return Path(os.environ.get("SAFEMIGRATE_REALWORLD_CACHE", "~/.cache/safemigrate-realworld")).expanduser()


def source_dir() -> Path:
    return Path(os.environ.get("SAFEMIGRATE_SOURCE", REPO)).resolve()


def fingerprint(folder: Path) -> str:
    """A hash of safemigrate's source: reinstall it into the venvs when it changes."""
    h = hashlib.sha256()
    files = [folder / "pyproject.toml", *sorted((folder / "src").rglob("*"))]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts and not any(x.endswith(".egg-info") for x in f.parts):
            h.update(str(f.relative_to(folder)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def server_url(backend: str, database: str | None = None, p: dict | None = None) -> str:
    """The server (or one of its databases) for a project: `servers` overrides it, `drivers` sets the driver."""
    base = PG_SERVER if backend == "postgresql" else MY_SERVER
    if p is not None:
        base = p.get("servers", {}).get(backend, base)
        if backend in p.get("drivers", {}):
            base = with_driver(base, p["drivers"][backend])
    return base if database is None else base.rsplit("/", 1)[0] + "/" + database


def with_driver(url: str, driver: str) -> str:
    return driver + url[url.index("://"):]


def run(argv: list[str], *, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
        log: Path | None = None) -> dict:
    """Run a command; never raise. Returns rc (None on timeout), stdout, stderr, seconds."""
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc = None
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = (exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")) \
            + f"\n[timeout after {timeout:.0f}s]"
    except OSError as exc:
        rc, out, err = 127, "", f"{type(exc).__name__}: {exc}"
    seconds = round(time.monotonic() - start, 1)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.with_suffix(".out").write_text(out)
        log.with_suffix(".err").write_text(f"$ {' '.join(argv)}\n[rc={rc} {seconds}s]\n{err}")
    return {"rc": rc, "stdout": out, "stderr": err, "seconds": seconds}


def parse_json(stdout: str) -> tuple[dict | None, bool]:
    """The JSON object printed on stdout, and whether stdout held only that object."""
    text = stdout.strip()
    try:
        return json.loads(text), True
    except ValueError:
        pass
    start = text.find("\n{")  # something printed before the JSON
    start = 0 if text.startswith("{") else (start + 1 if start >= 0 else -1)
    while start >= 0:
        try:
            return json.JSONDecoder().raw_decode(text[start:])[0], False
        except ValueError:
            nxt = text.find("\n{", start + 1)
            start = nxt + 1 if nxt >= 0 else -1
    return None, False


def tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# -- install ---------------------------------------------------------------------------------
def ensure_venv(p: dict, root: Path, timeout: float) -> dict:
    venv = root / "venvs" / p.get("venv", p["name"])
    python = p.get("python", "3.11")
    pins = {"requirement": p["requirement"], "extra": p.get("extra", []), "python": python}
    pin_hash = hashlib.sha256(json.dumps(pins, sort_keys=True).encode()).hexdigest()[:16]
    src = source_dir()
    src_hash = fingerprint(src)
    marker = venv / ".realworld.json"
    state = json.loads(marker.read_text()) if marker.is_file() else {}
    py = venv / "bin" / "python"
    uv = shutil.which("uv") or os.environ.get("SAFEMIGRATE_REALWORLD_UV")
    logs = root / "logs" / p.get("venv", p["name"])
    if state.get("pins") != pin_hash or not py.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        if uv:  # the interpreter's real path: uv does not follow pyenv shims and would try to download one
            exe = run([f"python{python}", "-c", "import sys; print(sys.executable)"])["stdout"].strip() \
                or next((str(c) for c in sorted(Path("~/.pyenv/versions").expanduser().glob(f"{python}.*/bin/python"))),
                        "")
            r = run([uv, "venv", "-q", "--python", exe or f"python{python}", str(venv)], timeout=timeout,
                    log=logs / "venv")
        else:
            r = run([f"python{python}", "-m", "venv", str(venv)], timeout=timeout, log=logs / "venv")
        if r["rc"] != 0:
            return {"ok": False, "reason": "venv: " + tail(r["stderr"], 3)}
        state = {}
    if state.get("pins") != pin_hash or state.get("source") != src_hash:
        reqs = [p["requirement"], *p.get("extra", []), str(src)]
        if uv:
            argv = [uv, "pip", "install", "-q", "--python", str(py), "--reinstall-package", "safemigrate", *reqs]
        else:
            argv = [str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(src)] \
                if state.get("pins") == pin_hash else [str(py), "-m", "pip", "install", "-q", *reqs]
        r = run(argv, timeout=max(timeout, 1800), log=logs / "install")
        if r["rc"] != 0:
            return {"ok": False, "reason": "install: " + install_reason(r["stderr"] + r["stdout"]),
                    "seconds": r["seconds"]}
        state = {"pins": pin_hash, "source": src_hash, "installed": time.strftime("%Y-%m-%dT%H:%M:%S")}
        marker.write_text(json.dumps(state))
    site = run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])["stdout"].strip()
    versions = run([str(py), "-c", "import importlib.metadata as m, json; print(json.dumps({n: m.version(n) "
                    "for n in ('alembic', 'sqlalchemy', 'safemigrate')}))"])["stdout"].strip()
    return {"ok": True, "venv": str(venv), "python": str(py), "site": site,
            "versions": json.loads(versions or "{}")}


def install_reason(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    keep = [ln for ln in lines if "depend" in ln or "requires" in ln or "conflict" in ln.lower()
            or "unsatisfiable" in ln or "No solution" in ln or "error" in ln.lower()]
    return " | ".join((keep or lines)[-4:])[:600]


# -- one project --------------------------------------------------------------------------------
def fill(value, subst: dict[str, str]):
    if isinstance(value, str):
        for key, val in subst.items():
            value = value.replace("{" + key + "}", val)
        return value
    if isinstance(value, list):
        return [fill(v, subst) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, subst) for k, v in value.items()}
    return value


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # a JSON string is a TOML basic string


def pyproject_text(config: dict) -> str:
    """[tool.safemigrate] with its keys; a table value (env, version_locations by dialect...) as a sub-table."""
    lines = ["[tool.safemigrate]"]
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for key, value in config.items():
        if isinstance(value, dict):
            lines += ["", f"[tool.safemigrate.{toml_key(key)}]"]
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def write_work(p: dict, work: Path, site: str) -> Path:
    """The work folder: pyproject.toml with [tool.safemigrate], and the project's glue files (`files`)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subst = {"site": site, "work": str(work)}
    (work / "pyproject.toml").write_text(pyproject_text(fill(p["config"], subst)))
    for rel, text in p.get("files", {}).items():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(fill(text, subst)).lstrip())
    return work


def glue_lines(p: dict) -> int:
    """Lines of code in the glue files a project needs (blank lines and comments not counted)."""
    return sum(1 for text in p.get("files", {}).values() for line in textwrap.dedent(text).splitlines()
               if line.strip() and not line.strip().startswith("#"))


def summarize(cmd: str, r: dict) -> dict:
    data, clean = parse_json(r["stdout"])
    out = {"rc": r["rc"], "seconds": r["seconds"], "json_clean": clean}
    if data is None:
        out["error"] = "no JSON on stdout: " + tail(r["stderr"] or r["stdout"], 3)[:400]
        if r["rc"] == 4:  # an internal error: the traceback (SAFEMIGRATE_DEBUG=1) is on stderr
            out["details"] = tail(r["stderr"], 14)[:2500]
        return out
    if "error" in data:
        out["error"] = f"{data['error']}: {data.get('what', '')}"[:700]
        out["fix"] = (data.get("fix") or "")[:300]
        if data.get("exit_code") == 4 or r["rc"] == 4:
            out["details"] = tail(data.get("details") or "", 12)[:2000]
        return out
    if data.get("kind") == "check":
        out["differences"] = len(data.get("differences", []))
        out["diff_kinds"] = dict(collections.Counter(d["kind"] for d in data.get("differences", [])))
        out["problems"] = [pr.get("code") for pr in data.get("problems", [])]
        out["revisions_applied"] = data.get("revisions_applied")
        out["notes"] = [n[:300] for n in data.get("notes", [])][:4]
    elif data.get("kind") == "check-live":
        out["versus_models"] = len(data.get("versus_models", []))
        out["items"] = sorted(f"{k} {d['table']}.{d['object']}" if d.get("object") else f"{k} {d['table']}"
                              for d in data.get("versus_models", []) for k in d["kind"].split("+"))
        out["missing_in_migrations"] = len(data.get("missing_in_migrations", []))
        out["out_of_band"] = len(data.get("out_of_band", []))
        out["diff_kinds"] = dict(collections.Counter(d["kind"] for d in data.get("versus_models", [])))
        out["problems"] = [pr.get("code") for pr in data.get("problems", [])]
        out["notes"] = [n[:300] for n in data.get("notes", [])][:4]
    elif data.get("kind") == "review":
        out["revisions"] = len(data.get("revisions", []))
        out["statements"] = sum(len(rv.get("statements", [])) for rv in data.get("revisions", []))
    elif data.get("kind") == "init":
        out["settings"] = data.get("settings")
        out["notes"] = [n[:300] for n in data.get("notes", [])]
    elif data.get("kind") == "lint":
        findings = data.get("findings", [])
        out["revisions"] = len(data.get("revisions", []))
        out["findings"] = dict(collections.Counter(f["rule"] for f in findings))
        out["unsigned_errors"] = sum(1 for f in findings if f["severity"] == "error" and not f.get("signed_off"))
    return out


def run_project(p: dict, root: Path, timeout: float, verbose: bool = False) -> dict:
    started = time.monotonic()
    result: dict = {"name": p["name"], "requirement": p["requirement"],
                    "version": p["requirement"].split("==")[-1], "commands": {}, "glue_lines": glue_lines(p)}
    inst = ensure_venv(p, root, timeout)
    result["install"] = inst
    if not inst["ok"]:
        result["driven"] = False
        result["reason"] = inst["reason"]
        result["seconds"] = round(time.monotonic() - started, 1)
        return result
    py, site = inst["python"], inst["site"]
    bindir = str(Path(py).parent)
    sm = str(Path(bindir) / "safemigrate")
    work = write_work(p, root / "work" / p["name"], site)
    logs = root / "logs" / p["name"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SAFEMIGRATE_", "VIRTUAL_ENV", "PYTHON")) and k != "DATABASE_URL"}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["SAFEMIGRATE_DEBUG"] = "1"  # an internal error (exit 4) leaves its traceback in the log
    env["HOME"] = str(work / "home")  # tools that write ~/.something write it here
    (work / "home").mkdir()
    if p.get("import_path"):
        env["PYTHONPATH"] = str(Path(site) / p["import_path"])
    dialects = p.get("dialects", ["sqlite"])
    preferred = dialects[0]  # review and lint run here (the first of `dialects`)
    scratch_args = [] if preferred == "sqlite" else ["--scratch-url", server_url(preferred, p=p)]
    mysql_account = p.get("servers", {}).get("mysql", "").partition("://")[2].partition("@")[0]
    if ":" in mysql_account:  # an account with a password (zenml wants one): create it with the admin account
        run([inst["python"], "-c", ADMIN, MY_SERVER, "user", mysql_account], env=env, timeout=120,
            log=logs / "mysql_user")

    def sm_cmd(label: str, *args: str, project: Path = work) -> dict:
        flags = ["-v"] if verbose and label != "init" else []
        r = run([sm, *args, *flags, "--format", "json", "--project", str(project)], cwd=project, env=env,
                timeout=timeout, log=logs / label)
        s = summarize(label, r)
        for key in ("error", "fix"):  # shorter, and the same from one machine to another
            if key in s:
                s[key] = s[key].replace(site + "/", "<site>/").replace(str(work), "<work>")
        result["commands"][label] = s
        return s

    if p.get("package"):  # what `safemigrate init --package` finds, in an empty folder beside the work folder
        adopt = root / "init" / p["name"]
        shutil.rmtree(adopt, ignore_errors=True)
        adopt.mkdir(parents=True)
        sm_cmd("init", "init", "--package", p["package"], project=adopt)
    if "sqlite" in dialects:
        sm_cmd("check_sqlite", "check")
    if "postgresql" in dialects:
        sm_cmd("check_pg", "check", "--scratch-url", server_url("postgresql", p=p), "--dialect", "postgresql")
    if "mysql" in dialects:
        sm_cmd("check_mysql", "check", "--scratch-url", server_url("mysql", p=p), "--dialect", "mysql")
    sm_cmd("review", "review", *scratch_args)
    sm_cmd("lint", "lint", *scratch_args)
    result["live"] = live(p, inst, work, env, logs, timeout, sm_cmd)
    checks = [v for k, v in result["commands"].items() if k.startswith("check_") and k != "check_live"]
    driven = [c for c in checks if "error" not in c and c["rc"] in (0, 1)]
    result["driven"] = bool(driven)
    if not driven:
        errors = [c.get("error", f"rc={c['rc']}") for c in checks]
        result["reason"] = errors[0] if errors else "no check ran"
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def live(p: dict, inst: dict, work: Path, env: dict, logs: Path, timeout: float, sm_cmd) -> dict:
    spec = p.get("live", {"kind": "alembic"})
    if spec["kind"] == "none":
        return {"skipped": spec.get("reason", "")}
    backend = p.get("live_backend", "postgresql")
    name = "smrw_" + p["name"].replace("-", "_")
    server = server_url(backend)
    py = inst["python"]
    r = run([py, "-c", ADMIN, server, "create", name], env=env, timeout=120, log=logs / "live_createdb")
    if r["rc"] != 0:
        return {"error": "cannot create the live database: " + tail(r["stderr"], 2)}
    out: dict = {"database": name, "backend": backend}
    try:
        db_url = server_url(backend, name, p)
        tool_url = with_driver(db_url, p.get("url_driver", DEFAULT_DRIVERS[backend]))
        subst = {"url": tool_url, "work": str(work), "bin": str(Path(py).parent), "site": inst["site"],
                 "python": py}
        if spec["kind"] == "alembic":
            ini = str(Path(inst["site"]) / p["alembic_ini"]) if p.get("alembic_ini") else ""
            steps = [[py, "-c", UPGRADE, ini, str(Path(inst["site"]) / p["script_location"]), tool_url]]
            step_env = fill(spec.get("env", {}), subst)
        else:
            for rel, text in spec.get("files", {}).items():
                target = work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(textwrap.dedent(fill(text, subst)).lstrip())
            steps = fill(spec["steps"], subst)
            step_env = fill(spec.get("env", {}), subst)
        t0 = time.monotonic()
        for i, argv in enumerate(steps):
            r = run(argv, cwd=work, env={**env, **step_env}, timeout=timeout, log=logs / f"live_tool{i}")
            if r["rc"] != 0:
                out["tool_error"] = f"step {i + 1} rc={r['rc']}: " + tail(r["stderr"] or r["stdout"], 4)[:700]
                break
        out["tool_seconds"] = round(time.monotonic() - t0, 1)
        if "tool_error" in out:
            return out
        models = p["models"] if isinstance(p["models"], list) else [p["models"]]
        sync_db_url = db_url.replace("+asyncpg", "+psycopg").replace("+aiomysql", "+pymysql")  # a sync engine
        r = run([py, "-c", COMPARE, sync_db_url, json.dumps(models)],  # the tool's env: settings read at import
                cwd=work, env={**env, **step_env}, timeout=timeout, log=logs / "alembic_compare")
        data, _ = parse_json(r["stdout"])
        out["alembic"] = data if data is not None else {"error": tail(r["stderr"], 3)[:500]}
        out["safemigrate"] = sm_cmd("check_live", "check", "--live", "--database-url", db_url,
                                    "--scratch-url", server_url(backend, p=p))
        return out
    finally:
        run([py, "-c", ADMIN, server, "drop", name], env=env, timeout=120)


# -- report ---------------------------------------------------------------------------------------
def cell_check(c: dict | None) -> str:
    if c is None:
        return "-"
    if "error" in c:
        return f"ERR({c['rc']})"
    return f"{c['differences']}d({c['rc']})"


def short(text: str, n: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def table(results: list[dict]) -> str:
    head = ["project", "version", "driven", "sqlite", "pg", "mysql", "review", "lint", "live sm/alembic",
            "lint findings", "glue", "time"]
    rows = []
    for r in results:
        c = r.get("commands", {})
        lv = r.get("live") or {}
        if not r.get("install", {}).get("ok", True) or "commands" not in r or not c:
            live_cell = "-"
        elif "skipped" in lv:
            live_cell = "n/a"
        elif "tool_error" in lv or "error" in lv:
            live_cell = "tool failed"
        else:
            sm = lv.get("safemigrate", {})
            al = (lv.get("alembic") or {})
            a1 = al.get("default", {}).get("count", "E")
            a2 = al.get("server_default", {}).get("count", "E")
            s = "E" if "error" in sm else sm.get("versus_models")
            live_cell = f"{s} / {a1} ({a2} w/ defaults) rc={sm.get('rc')}"
        lint = c.get("lint", {})
        findings = ", ".join(f"{k}:{v}" for k, v in sorted(lint.get("findings", {}).items())) if lint else ""
        driven = "yes" if r.get("driven") else "no: " + short(r.get("reason", ""), 90)
        rv = c.get("review")
        rows.append([r["name"], r["version"], driven, cell_check(c.get("check_sqlite")),
                     cell_check(c.get("check_pg")), cell_check(c.get("check_mysql")),
                     "-" if rv is None else (f"ERR({rv['rc']})" if "error" in rv else f"{rv['revisions']}r({rv['rc']})"),
                     "-" if not lint else (f"ERR({lint['rc']})" if "error" in lint else f"rc={lint['rc']}"),
                     live_cell, findings or "-", str(r.get("glue_lines") or "-"), f"{r.get('seconds', 0):.0f}s"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = " | ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*head), "-+-".join("-" * w for w in widths)]
    lines += [fmt.format(*map(str, row)) for row in rows]
    return "\n".join(lines)


def markdown(results: list[dict]) -> str:
    """The table of docs/REALWORLD.md."""
    lines = ["| project | version | driven | init --package | sqlite | pg | mysql | review | lint | live: safemigrate / "
             "Alembic (w/ defaults) | lint findings | glue | time |", "|" + "---|" * 13]
    for r in results:
        c = r.get("commands", {})
        if not r.get("install", {}).get("ok", True):
            lines.append(f"| {r['name']} | {r['version']} | no: does not install ({short(r.get('reason', ''), 160)}) "
                         "| - | - | - | - | - | - | - | - | - | - |")
            continue
        lv = r.get("live") or {}
        if "skipped" in lv:
            live_cell = "n/a"
        elif "tool_error" in lv or "error" in lv:
            live_cell = "tool failed"
        else:
            sm = lv.get("safemigrate", {})
            al = lv.get("alembic") or {}
            a1 = al.get("default", {}).get("count", "E")
            a2 = al.get("server_default", {}).get("count", "E")
            s = f"ERR({sm.get('rc')})" if "error" in sm else f"{sm.get('versus_models')} (rc={sm.get('rc')})"
            live_cell = f"{s} / {a1} ({a2})"
        lint = c.get("lint", {})
        findings = ", ".join(f"{k}:{v}" for k, v in sorted(lint.get("findings", {}).items())) if lint else ""
        init = c.get("init")
        init_cell = "-" if init is None else (f"ERR({init['rc']})" if "error" in init else
                                              ("metadata read" if (init.get("settings") or {}).get("metadata")
                                               else "location only"))
        rv = c.get("review")
        driven = "yes" if r.get("driven") else "no"
        lines.append("| " + " | ".join([
            r["name"], r["version"], driven, init_cell, cell_check(c.get("check_sqlite")),
            cell_check(c.get("check_pg")), cell_check(c.get("check_mysql")),
            "-" if rv is None else (f"ERR({rv['rc']})" if "error" in rv else f"{rv['revisions']}r({rv['rc']})"),
            "-" if not lint else (f"ERR({lint['rc']})" if "error" in lint else f"rc={lint['rc']}"),
            live_cell, findings or "-", str(r.get("glue_lines") or "-"), f"{r.get('seconds', 0):.0f}s"]) + " |")
    return "\n".join(lines)


def details(results: list[dict]) -> str:
    """Every error and count of each project, for reading (the table only has the first)."""
    out = []
    for r in results:
        out.append(f"## {r['name']} {r['version']}")
        inst = r.get("install", {})
        if not inst.get("ok"):
            out.append(f"  install failed: {inst.get('reason') or r.get('reason')}")
            continue
        out.append(f"  versions: {inst.get('versions')}")
        for cmd, c in r.get("commands", {}).items():
            if "error" in c:
                out.append(f"  {cmd}: rc={c['rc']} {c['error']}")
            else:
                extra = {k: c[k] for k in ("differences", "diff_kinds", "problems", "versus_models", "out_of_band",
                                           "revisions", "statements", "findings", "settings", "notes") if k in c}
                out.append(f"  {cmd}: rc={c['rc']} {json.dumps(extra)[:600]}")
            if not c.get("json_clean", True) and "error" not in c:
                out.append(f"  {cmd}: stdout held more than the JSON object")
            if c.get("details"):
                out.append("  " + cmd + " details:\n" + textwrap.indent(c["details"], "    "))
        lv = r.get("live") or {}
        for key in ("skipped", "error", "tool_error"):
            if key in lv:
                out.append(f"  live {key}: {lv[key]}")
        if "alembic" in lv:
            al = lv["alembic"]
            counts = {k: v.get("count", v.get("error")) for k, v in al.items() if isinstance(v, dict)}
            out.append(f"  live alembic compare_metadata: {json.dumps(counts)[:700]}")
            sm_items = collections.Counter(lv.get("safemigrate", {}).get("items") or [])
            for label in ("default", "server_default"):
                items = collections.Counter((al.get(label) or {}).get("items") or [])
                if not items and not sm_items:
                    continue
                only_al, only_sm = items - sm_items, sm_items - items
                out.append(f"  live vs alembic ({label}): {sum((items & sm_items).values())} in both; "
                           f"only alembic {sum(only_al.values())}: {summary_of(only_al)}; "
                           f"only safemigrate {sum(only_sm.values())}: {summary_of(only_sm)}")
    return "\n".join(out)


def summary_of(items: collections.Counter) -> str:
    """'kind table.object' items, counted by kind, with a few examples."""
    by_kind = collections.Counter()
    for item, n in items.items():
        by_kind[item.split(" ", 1)[0]] += n
    examples = ", ".join(sorted(items)[:6])
    return (", ".join(f"{k}:{n}" for k, n in sorted(by_kind.items())) + (f" (e.g. {examples})" if examples else "")) \
        or "-"


def diff_previous(previous: dict, results: list[dict]) -> list[str]:
    old = {r["name"]: r for r in previous.get("results", [])}
    changes = []
    for r in results:
        o = old.get(r["name"])
        if o is None:
            continue
        if o.get("driven") != r.get("driven"):
            changes.append(f"{r['name']}: driven {o.get('driven')} -> {r.get('driven')}")
        for cmd, now in r.get("commands", {}).items():
            was = o.get("commands", {}).get(cmd)
            if was is None:
                continue
            for key in ("rc", "differences", "versus_models", "findings", "error"):
                if was.get(key) != now.get(key):
                    changes.append(f"{r['name']} {cmd} {key}: {was.get(key)!r} -> {now.get(key)!r}"[:300])
    return changes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("projects", nargs="*", help="names from projects.toml (default: all not marked skip)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per command (default 600)")
    ap.add_argument("--list", action="store_true", help="list the corpus and exit")
    ap.add_argument("--markdown", action="store_true", help="with --report: the Markdown table of docs/REALWORLD.md")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="pass -v to safemigrate (what env.py prints goes to the logs' .err files)")
    ap.add_argument("--report", action="store_true",
                    help="print the table and every error of the last run (results/latest.json) and exit")
    args = ap.parse_args(argv)
    corpus = load_corpus()
    if args.report:
        runs = sorted((cache_dir() / "results").glob("*.json"), key=lambda f: f.stat().st_mtime)
        if not runs:
            ap.error(f"no previous run in {cache_dir() / 'results'}")
        results = json.loads(runs[-1].read_text())["results"]  # the newest, also of a run still going
        if args.projects:
            results = [r for r in results if r["name"] in args.projects]
        if args.markdown:
            print(markdown(results))
            return 0
        print(table(results))
        print()
        print(details(results))
        return 0
    if args.list:
        for p in corpus:
            print(f"{p['name']:<16} {p['requirement']:<42} {p.get('skip', '')}")
        return 0
    by_name = {p["name"]: p for p in corpus}
    unknown = [n for n in args.projects if n not in by_name]
    if unknown:
        ap.error(f"unknown project(s): {', '.join(unknown)}; see --list")
    chosen = [by_name[n] for n in args.projects] if args.projects else [p for p in corpus if not p.get("skip")]
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    print(f"safemigrate from {source_dir()}; cache {root}", flush=True)
    out_dir = root / "results"
    out_dir.mkdir(exist_ok=True)
    latest = out_dir / "latest.json"
    previous = json.loads(latest.read_text()) if latest.is_file() else None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    order = [p["name"] for p in corpus]
    results: list[dict] = []

    def save() -> dict:  # after every project, so that an interrupted run keeps what it did
        merged = {r["name"]: r for r in (previous or {}).get("results", [])} if args.projects else {}
        merged.update({r["name"]: r for r in results})  # a partial run keeps the other projects' last results
        doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "source": str(source_dir()),
               "source_fingerprint": fingerprint(source_dir()), "ran": [r["name"] for r in results],
               "results": sorted(merged.values(), key=lambda r: order.index(r["name"]) if r["name"] in order else 99)}
        (out_dir / f"{stamp}.json").write_text(json.dumps(doc, indent=1))
        return doc

    for p in chosen:
        print(f"== {p['name']} ({p['requirement']})", flush=True)
        try:
            res = run_project(p, root, args.timeout, args.verbose)
        except Exception as exc:  # the harness itself must not stop the run
            res = {"name": p["name"], "version": p["requirement"].split("==")[-1], "driven": False,
                   "reason": f"harness: {type(exc).__name__}: {exc}"}
        results.append(res)
        save()
        print(f"   driven={res.get('driven')} {short(res.get('reason', ''), 160)} ({res.get('seconds', 0):.0f}s)",
              flush=True)
    print()
    print(table(results))
    doc = save()
    if previous is not None:
        changes = diff_previous(previous, results)
        print("\nChanges since the previous run:" if changes else "\nNo change since the previous run.")
        for line in changes:
            print("  " + line)
    latest.write_text(json.dumps(doc, indent=1))
    print(f"\nresults: {out_dir / (stamp + '.json')} (and latest.json); logs: {root / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
