import os
from sqlalchemy import create_engine
# the application's engine, built when the module is imported (open-webui's open_webui.internal.db)
engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, pool_timeout=30)
