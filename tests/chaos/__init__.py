"""Chaos: the real bot (gunicorn processes on Redis, moto S3, fake Slack and OpenAI) while
workers are SIGKILLed and SIGTERMed, Redis restarts, S3 and the model fail, and Slack retries.

The guarantee under test: every message in a thread is answered once, in order, with valid
memory. Messages are tokens (see tests/support/chaos_tokens.py); the fake model echoes the newest
user message, so each post names the messages it answers. "Answered once" is checked with a
marker per thread sent last: inboxes are FIFO, so when a marker's answer is posted, every
earlier message of its thread has been handled, and a duplicate would already show.

LOCK_TTL_SECONDS=3 (tests.support.bot_process.bot_env): a dead worker's threads are free after
3 s and swept up within 2 s more. Set CHAOS_SEED to replay a run's random choices.
"""
