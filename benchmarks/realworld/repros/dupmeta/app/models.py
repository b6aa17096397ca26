from sqlalchemy import MetaData, Table, Column, Integer
metadata = MetaData()
Table("item", metadata, Column("id", Integer, primary_key=True))
