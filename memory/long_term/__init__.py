"""Long-term memory in Postgres + pgvector: episodic turns and semantic facts, hybrid retrieval, audit."""
