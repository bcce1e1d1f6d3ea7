"""The agent: personas, model providers, and one conversation turn."""
