import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("item", metadata, sa.Column("id", sa.Integer, primary_key=True))
