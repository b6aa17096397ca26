from typing import Any

from sqlalchemy import JSON, BigInteger, Computed, ForeignKey, Identity, Index, Integer, String, func
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


# JSONB on PostgreSQL (indexable, binary), plain JSON elsewhere (SQLite in tests).
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
# API tokens compare case-sensitively, also on MySQL/MariaDB (whose default collation does not).
Token = String(64).with_variant(mysql.VARCHAR(64, collation="utf8mb4_bin"), "mysql", "mariadb")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer(), Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    full_name: Mapped[str | None] = mapped_column(
        String(201), Computed("first_name || ' ' || last_name", persisted=True)
    )
    preferences: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    api_token: Mapped[str | None] = mapped_column(Token, unique=True)


# case-insensitive unique e-mail addresses
Index("ix_users_lower_email", func.lower(User.email), unique=True)


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigInteger(), Identity(always=True), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    unit_price_cents: Mapped[int] = mapped_column(Integer())
    quantity: Mapped[int] = mapped_column(Integer())
    total_cents: Mapped[int | None] = mapped_column(Integer(), Computed("unit_price_cents * quantity", persisted=True))
