"""What tests share: helpers and fixtures imported by more than one test module.

Test modules import from here (or from tests/fakes/, tests/harness.py, tests/processes.py),
never from each other. `wait.wait_until` is the one way to wait for a condition: it fails
the test with what it waited for when the time is up."""
