"""Chat models behind one async interface: LiteLLM for every provider, a scripted fake for tests."""
