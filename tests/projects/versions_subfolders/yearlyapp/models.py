from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Sensor(Base):
    __tablename__ = "sensors"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    location: Mapped[str | None] = mapped_column(String(100))
    firmware: Mapped[str] = mapped_column(String(20), server_default=text("'1.0.0'"))


class Reading(Base):
    __tablename__ = "readings"

    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"))
    taken_at: Mapped[datetime] = mapped_column(DateTime(), index=True)
    value_milli: Mapped[int] = mapped_column(Integer())
