import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from asyncsetapp.models import metadata
from asyncsetapp.settings import DATABASE_URL


def do_run(connection):
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = create_async_engine(DATABASE_URL)
    async with engine.connect() as connection:
        await connection.run_sync(do_run)
    await engine.dispose()


asyncio.run(main())
