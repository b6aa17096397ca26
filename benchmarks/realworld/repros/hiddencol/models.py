from sqlalchemy import Column, Integer, MetaData, Table
metadata = MetaData()
Table("item", metadata, Column("id", Integer, primary_key=True))   # item.legacy was removed from the models
