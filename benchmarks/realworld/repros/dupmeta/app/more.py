from sqlalchemy import Table, Column, Integer
from app.models import metadata
Table("other", metadata, Column("id", Integer, primary_key=True))
