import os

from sqlalchemy import create_engine

# the application's engine, built when the module is imported, with a pool's options (open-webui's internal.db)
engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10, pool_timeout=30)
