import sqlalchemy as sa

metadata = sa.MetaData()
# instances.legacy_host was removed from the models; the database keeps it until a later release drops it
sa.Table("instances", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("host", sa.String(255)))

REMOVED_COLUMNS = {("instances", "legacy_host")}
