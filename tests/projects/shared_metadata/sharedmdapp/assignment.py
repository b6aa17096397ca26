import sqlalchemy as sa

from sharedmdapp.models import metadata

sa.Table("assignment", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("project_id", sa.Integer, sa.ForeignKey("project.id")))
