"""Passwords never leave the process."""

from __future__ import annotations

from safemigrate.core.secrets import mask_url, redact
from safemigrate.core.urls import parse_url, sync_url, with_driver_of


def test_mask_url_hides_password():
    assert mask_url("postgresql://app:s3cr3t-pw@db:5432/shop") == "postgresql://app:***@db:5432/shop"


def test_redact_removes_remembered_passwords_anywhere():
    parse_url("postgresql://app:hunter2-xyz@db/shop")
    assert "hunter2-xyz" not in redact("connection failed for password hunter2-xyz (user app)")


def test_redact_masks_url_shaped_text_even_unparsed():
    assert redact("see mysql://root:topsecret@h/db for details") == "see mysql://root:***@h/db for details"


def test_sync_url_replaces_async_drivers():
    assert sync_url(parse_url("postgresql+asyncpg://u@h/d")).drivername == "postgresql+psycopg"
    assert sync_url(parse_url("sqlite+aiosqlite:///x.db")).drivername == "sqlite+pysqlite"
    assert sync_url(parse_url("postgresql://u@h/d")).get_driver_name() == "psycopg"
    assert sync_url(parse_url("mysql+pymysql://u@h/d")).drivername == "mysql+pymysql"


def test_scratch_inherits_project_driver_for_same_backend():
    scratch = parse_url("sqlite:////tmp/x.db")
    assert with_driver_of(scratch, parse_url("sqlite+aiosqlite:///app.db")).drivername == "sqlite+aiosqlite"
    assert with_driver_of(scratch, parse_url("postgresql://u@h/d")).drivername == "sqlite"
