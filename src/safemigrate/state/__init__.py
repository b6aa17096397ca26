"""What safemigrate keeps in the migrated database: the ledger of applied revisions and the migrator lock."""
