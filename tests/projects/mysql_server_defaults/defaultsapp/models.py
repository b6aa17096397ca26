from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, false, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    # four ways of saying "now", as different people wrote them over the years
    created_at: Mapped[datetime] = mapped_column(DateTime(), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(), server_default=text("CURRENT_TIMESTAMP"))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(), server_default=func.current_timestamp())
    login_count: Mapped[int] = mapped_column(Integer(), server_default="0")
    is_admin: Mapped[bool] = mapped_column(Boolean(), server_default=false())
