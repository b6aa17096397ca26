import asyncio
import os

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from asyncpgargsapp.models import metadata


def do_run(connection):
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    # asyncpg's own connect argument, as prefect passes it: psycopg refuses it ("invalid connection option")
    engine = create_async_engine(os.environ["DATABASE_URL"], connect_args={"timeout": 10})
    async with engine.connect() as connection:
        await connection.run_sync(do_run)
    await engine.dispose()


asyncio.run(main())
