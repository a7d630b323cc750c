"""MPM models."""
