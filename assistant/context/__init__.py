"""The context manager: decides what the model sees on each turn."""
