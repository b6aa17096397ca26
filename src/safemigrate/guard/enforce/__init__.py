"""Where the rules are enforced outside lint: at run time, at autogenerate time, on batch operations."""
