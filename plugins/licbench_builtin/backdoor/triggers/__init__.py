"""Built-in backdoor trigger models."""
