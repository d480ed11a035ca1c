"""Hybrid search shared by every searchable record kind: the query legs, their fusion, embedded texts, re-embedding."""
