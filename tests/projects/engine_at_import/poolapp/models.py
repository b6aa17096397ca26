import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("chat", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("title", sa.String(100)))
