from sqlalchemy import BigInteger, Identity, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditLog(Base):  # Identity() keys, as privacyidea declares them: AUTO_INCREMENT on MySQL/MariaDB
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger(), Identity(), primary_key=True)
    action: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str | None] = mapped_column(String(80))  # revision 8b4f0d6e2a17
