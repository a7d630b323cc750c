"""The scenario spec."""
