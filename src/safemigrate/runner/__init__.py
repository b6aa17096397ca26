"""Applying migrations: the environment-aware runner, its ledger and its lock."""
