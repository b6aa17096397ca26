import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("deployment", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(50)))
