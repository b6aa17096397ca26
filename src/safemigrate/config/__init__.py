"""``[tool.safemigrate]``: finding the project, reading and validating its settings, resolving the environment."""
