"""The billing plugin. Its migrations are a separate branch in plugins/billing/versions."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pluginapp.db import Base


class Plan(Base):
    __tablename__ = "billing_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    price_cents: Mapped[int] = mapped_column(Integer())


class Subscription(Base):
    __tablename__ = "billing_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime())
