"""The shop's tables, as SQLAlchemy 2.0 declarative models.

The migration history in ``migrations/versions`` builds exactly this schema on
SQLite, PostgreSQL and MariaDB/MySQL. Every constraint and index has a stable
name, given by the naming convention below, so migrations can refer to them by
name on every dialect.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Server defaults written so that every dialect accepts them and reflects them
# back in a form Alembic compares as equal (compare_server_default=True):
#: "now": every dialect understands CURRENT_TIMESTAMP.
NOW = sa.text("CURRENT_TIMESTAMP")
#: integer counters.
ZERO = sa.text("0")
#: money: MariaDB/MySQL report a DECIMAL(10, 2) default of 0 as 0.00.
ZERO_MONEY = sa.text("0.00")
#: booleans: the string literals '1' / '0' are valid BOOLEAN input on PostgreSQL
#: and what MariaDB/MySQL (TINYINT(1)) and SQLite report back; sa.true() would
#: render as "true", which MariaDB reports as 1 and Alembic sees as a change.
TRUE = "1"
FALSE = "0"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class OrderStatus(str, enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


def _enum_values(enum_cls: type[enum.Enum]) -> list[str]:
    return [member.value for member in enum_cls]


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        sa.CheckConstraint("loyalty_points >= 0", name="loyalty_points_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=TRUE)
    loyalty_points: Mapped[int] = mapped_column(sa.Integer, server_default=ZERO)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    addresses: Mapped[list[Address]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", passive_deletes=True
    )
    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Address(Base):
    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(sa.String(50))
    line1: Mapped[str] = mapped_column(sa.String(200))
    line2: Mapped[str | None] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    postal_code: Mapped[str] = mapped_column(sa.String(20))
    country_code: Mapped[str] = mapped_column(sa.String(2))
    is_default: Mapped[bool] = mapped_column(sa.Boolean, server_default=FALSE)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    customer: Mapped[Customer] = relationship(back_populates="addresses")


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )

    parent: Mapped[Category | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Category]] = relationship(back_populates="parent")
    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (sa.CheckConstraint("price >= 0", name="price_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=TRUE)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    category: Mapped[Category | None] = relationship(back_populates="products")
    inventory: Mapped[Inventory | None] = relationship(
        back_populates="product", cascade="all, delete-orphan", passive_deletes=True
    )


class Inventory(Base):
    __tablename__ = "inventory"
    __table_args__ = (
        sa.CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        sa.CheckConstraint("reserved >= 0", name="reserved_nonnegative"),
    )

    product_id: Mapped[int] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(sa.Integer, server_default=ZERO)
    reserved: Mapped[int] = mapped_column(sa.Integer, server_default=ZERO)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    product: Mapped[Product] = relationship(back_populates="inventory")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint("total >= 0", name="total_nonnegative"),
        sa.Index("ix_orders_customer_id_created_at", "customer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    shipping_address_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("addresses.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[OrderStatus] = mapped_column(
        sa.Enum(OrderStatus, name="order_status", values_callable=_enum_values),
        server_default=OrderStatus.PENDING.value,
        index=True,
    )
    total: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), server_default=ZERO_MONEY)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    shipping_address: Mapped[Address | None] = relationship()
    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "product_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(sa.ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(sa.Integer)
    unit_price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    provider: Mapped[str] = mapped_column(sa.String(30))
    reference: Mapped[str] = mapped_column(sa.String(100), unique=True)
    paid_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=NOW)

    order: Mapped[Order] = relationship(back_populates="payments")
