"""Read-only operations on a project: check, check --live, status, review, lint."""
