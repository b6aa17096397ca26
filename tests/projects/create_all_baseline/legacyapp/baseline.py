"""The schema of release 1.x, frozen.

Before Alembic was adopted the app made its tables at start-up with
``LegacyBase.metadata.create_all(engine)``. Databases in the field still come from
there, so revision 1 of the migrations starts from exactly these tables. Do not edit:
schema changes go into migrations and legacyapp.models.
"""

from datetime import date

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class LegacyBase(DeclarativeBase):
    pass


class Customer(LegacyBase):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)


class Invoice(LegacyBase):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    number: Mapped[str] = mapped_column(String(20), unique=True)
    amount_cents: Mapped[int] = mapped_column(Integer())
    issued_on: Mapped[date] = mapped_column(Date())


metadata = LegacyBase.metadata
