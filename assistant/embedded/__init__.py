"""Embedded Postgres + pgvector and Redis servers, started when no URL is configured."""
