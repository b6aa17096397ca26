import sqlalchemy as sa

metadata = sa.MetaData()  # one MetaData every backend module registers its tables on (keystone's ModelBase)
sa.Table("project", metadata, sa.Column("id", sa.Integer, primary_key=True))
