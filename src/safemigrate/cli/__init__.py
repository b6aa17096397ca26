"""The ``safemigrate`` command: a skin over the library (parse, call, render, map errors to exit codes)."""

from safemigrate.cli.main import main

__all__ = ["main"]
