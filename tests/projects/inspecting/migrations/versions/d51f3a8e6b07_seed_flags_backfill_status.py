"""seed feature flags, backfill user status (data migration)

Uses an ORM Session on the migration's connection, with models frozen here as
they were at this revision (never import the application's models in a migration).

Revision ID: d51f3a8e6b07
Revises: 2c8b0f5e7a94
Create Date: 2023-09-15 10:03:37.125580

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


# revision identifiers, used by Alembic.
revision: str = 'd51f3a8e6b07'
down_revision: Union[str, Sequence[str], None] = '2c8b0f5e7a94'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

DEFAULT_FLAGS = {"new_checkout": False, "dark_mode": True}


class _Base(DeclarativeBase):
    pass


class _FeatureFlag(_Base):
    __tablename__ = "feature_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    enabled: Mapped[bool] = mapped_column(sa.Boolean)


class _User(_Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str | None] = mapped_column(sa.String(20))


def upgrade() -> None:
    """Upgrade data."""
    session = Session(bind=op.get_bind())
    existing = set(session.scalars(sa.select(_FeatureFlag.name)))
    for name, enabled in DEFAULT_FLAGS.items():
        if name not in existing:
            session.add(_FeatureFlag(name=name, enabled=enabled))
    for user in session.scalars(sa.select(_User).where(sa.or_(_User.status.is_(None), _User.status == ""))):
        user.status = "active"
    session.commit()


def downgrade() -> None:
    """Downgrade data."""
    session = Session(bind=op.get_bind())
    session.execute(sa.delete(_FeatureFlag).where(_FeatureFlag.name.in_(DEFAULT_FLAGS)))
    session.commit()
