"""Ingest: real photos in, clean square RGB images out, with a record per image."""
