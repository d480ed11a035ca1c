"""The Chainlit chat in the browser."""
