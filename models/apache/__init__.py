"""Apache configuration."""
