"""The shop example application."""
