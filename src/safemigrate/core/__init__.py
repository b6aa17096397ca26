"""The bottom layer: errors and exit codes, secrets and URLs, paths, result base types. Imports nothing else of ours."""
