"""Turns: take a thread, hold its lock, build the turn's inputs and answer its queued messages."""
