from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from pluginapp.db import Base


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
