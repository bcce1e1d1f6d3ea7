"""Intake: a Slack message becomes a queued job, acknowledged at once (routing, dedup, outages)."""
