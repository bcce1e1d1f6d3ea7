"""Slack's Web API: a client per installation, installations, OAuth state, request payloads
and the rate budget."""
