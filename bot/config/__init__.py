"""Configuration from the environment (and `.env`), validated once at start-up."""
