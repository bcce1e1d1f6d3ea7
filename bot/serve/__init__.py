"""Processes: entry points, HTTP, Socket Mode, gunicorn, and the wiring of one process."""
