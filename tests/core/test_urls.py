"""Passwords never leave the process."""

from __future__ import annotations

import pytest

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


def test_a_password_is_masked_as_a_credential_not_inside_other_words():
    parse_url("postgresql+psycopg://app:postgres@db.internal/shop")
    text = redact("could not reach postgresql://app:postgres@db.internal/shop (postgresql 15, password postgres)")
    assert "postgresql://app:***@db.internal/shop" in text and "postgresql 15" in text
    assert "password ***" in text and "postgres)" not in text


def test_a_password_in_the_query_is_masked_everywhere():
    url = parse_url("postgresql://app@db/shop?password=hunter22&sslmode=require")
    assert mask_url(url) == "postgresql://app@db/shop?password=***&sslmode=require"
    assert "hunter22" not in redact("auth failed: password=hunter22 for app; hunter22 rejected")


def test_short_passwords_are_masked_where_they_stand_as_credentials():
    parse_url("mysql+pymysql://root:ab@db/shop")
    assert redact("mysql+pymysql://root:ab@db/shop") == "mysql+pymysql://root:***@db/shop"
    assert redact("host=db password=ab dbname=shop") == "host=db password=*** dbname=shop"


def test_an_unencoded_at_sign_in_the_password_is_a_clear_configuration_error():
    from safemigrate.core.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_url("postgresql://app:p@ss@db/shop")
    assert "percent-encoded" in str(info.value) and "ss@" not in str(info.value) and "p@ss" not in str(info.value)
