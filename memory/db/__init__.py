"""Postgres access: the connection pool and the ordered schema migrations."""
