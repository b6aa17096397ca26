from sqlalchemy import JSON, Column, Integer, MetaData, Table
metadata = MetaData()
Table("users", metadata, Column("id", Integer, primary_key=True), Column("roles", JSON, server_default="[]"))
