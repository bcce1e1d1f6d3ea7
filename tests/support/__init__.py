"""What tests share: helpers imported by more than one test module.

Test modules import helpers from here (or from tests/fakes/, tests/support/harness.py,
tests/support/bot_process.py, tests/support/chaos_*.py), never from each other; shared
fixtures are in tests/conftest.py. `wait.wait_until` is the one way to wait for a condition:
it fails the test, naming what it waited for, when the time is up.

- bot.py: in-process bots: settle, model_called, answers, wait_answered, start_bot, slow
- processes.py: the bot's commands as processes: clean_env, start_turns, wait_posts
- socket_mode.py: the Socket Mode worker as a process: bot_process, in_thread
- chaos_tokens.py, chaos_cluster.py, chaos_courier.py, chaos_accounting.py, chaos_waits.py:
  the chaos plumbing (tests/chaos/, tests/store/test_cluster_processes.py, scripts/soak*.py);
  chaos_checks.py: what the modules of tests/chaos/ share
- clock.py: a hand-moved timer for the caches that take one
- metrics.py, oauth.py, files.py, thread_context.py: what their test modules share
"""
