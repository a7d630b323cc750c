"""The engine: one simulated replication and its summary."""
