"""Built-in backdoor."""
