"""Slack bot where every thread is a persistent Strands agent session."""
