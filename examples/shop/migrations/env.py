from safemigrate.env import run_migrations

run_migrations()
