"""Redis: the repository, the key layout, the client and what builds it."""
