"""The answer message: what one answer shows in Slack, from the first status to the final text."""
