import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("users", metadata,
         sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("roles", sa.JSON, server_default="[]"),
         sa.Column("settings", sa.JSON, server_default=sa.text("'{\"theme\": \"dark\"}'::json")))
