"""The turn pipeline: store the message, assemble context, call the model, store the reply."""
