"""Built-in downstream."""
