"""State store: coordination state (Redis or in-process) and session storage (S3 or files)."""
