import sqlalchemy as sa

# dagster: each storage has a MetaData of its own, and two of them define the same table
runs = sa.MetaData()
sa.Table("secondary_indexes", runs, sa.Column("id", sa.Integer, primary_key=True))
events = sa.MetaData()
sa.Table("secondary_indexes", events, sa.Column("id", sa.Integer, primary_key=True))
