"""Short-term memory in Redis: fast, rebuildable per-thread state."""
