"""Staging rehearsals: run pending revisions on a copy with production-like volume and measure, per statement,
the locks it takes and how long application reads and writes are really blocked (``safemigrate rehearse``)."""
