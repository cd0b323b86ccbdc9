"""Operators' tools: the CLI, file transfer, diagnostics, the embedded store, health probe, ACL."""
