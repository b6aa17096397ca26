"""SQL analysis the rules share: parsing (pglast, sqlglot), names and types, what a statement runs, fixes."""
