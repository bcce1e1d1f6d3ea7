"""Finding 1: one message froze a process for minutes. The calculator bounded the exponent but
not the base (`((((7**100)**100)**100)**20)` held the GIL for 27 s, every lease of the
process expired); a 5,000-term sum raised an uncaught RecursionError.

Whatever the expression, the calculator answers (a number or `error: ...`), never raises,
and never runs long: each case runs in a thread the test waits for (a generous wait that
only a runaway evaluation misses, not a speed assertion)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from bot.agent.tools import calculator
from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.support.harness import now_ts

WAIT = 10.0  # seconds: the bounded evaluator answers within milliseconds

HOSTILE = {
    "finding": "((((7**100)**100)**100)**20)",  # 27 s holding the GIL
    "longer_chain": "(((((7**100)**100)**100)**100)**100)",  # minutes
    "products": "(10**1000)*(10**1000)*(10**1000)*(10**1000)*(10**1000)*(10**1000)",
    "sum_5000": "+".join(["1"] * 5000),  # RecursionError during ast construction
    "unary_100k": "-" * 100_000 + "1",  # the parser's MemoryError
    "parentheses_250": "(" * 250 + "1" + ")" * 250,  # too many nested parentheses
    "power_tower": "**".join(["2"] * 3000),
    "literal_5000_digits": "9" * 5000,  # past int_max_str_digits
    "tiny_power": "2**-(10**1000)",
    "huge_reciprocal": "(10**300)**-1",
    "complex": "(-8)**0.5 % 2",  # a complex intermediate
    "squares": "((2**4000)**2)**2",
    "infinities": "1e308*10 - 1e308*10",
    "bool": "True + 1",
    "if": "1 if 2 else 3",
    "call": "__import__('os')",
    "empty": "",
    "zero_division": "1/0",
    "null_byte": "a\x00b",
}


def evaluate(expression: str) -> str:
    """The calculator's answer, from a thread: fails if it is still running after WAIT s."""
    answer: list[object] = []

    def run() -> None:
        try:
            answer.append(calculator(expression))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            answer.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert answer, f"calculator still running after {WAIT} s on {expression[:80]!r}"
    result = answer[0]
    if isinstance(result, BaseException):
        raise AssertionError(f"calculator raised {result!r} on {expression[:80]!r}")
    return str(result)


def is_answer(text: str) -> bool:
    """A number the model can read, or an error the model can read."""
    if text.startswith("error: "):
        return len(text) < 300
    try:
        float(text)
    except (ValueError, OverflowError):
        return False
    return len(text) < 1300


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_expressions_answer_quickly_and_never_raise(name: str) -> None:
    assert is_answer(evaluate(HOSTILE[name]))


def test_ordinary_arithmetic_still_works() -> None:
    assert evaluate("(2 + 3) * 4") == "20"
    assert evaluate("2 ** 10 // 3 % 7") == str(2**10 // 3 % 7)
    assert evaluate("7 / 2") == "3.5"
    assert evaluate("-(3 - 5) ** 2") == "-4"
    assert evaluate("2 ** 4000") == str(2**4000)
    assert evaluate("+".join(["1"] * 300)) == "300"
    assert evaluate("1/0") == "error: division by zero"


# --- property: generated hostile expressions ---------------------------------------------
_numbers = st.one_of(
    st.integers(0, 10**6).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),  # huge literals
    st.sampled_from(["0.5", "1e308", "2.5e-300", "7", "10**1000", "(-8)"]),
)
_ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, _ops, inner).map(lambda t: f"({t[0]}){t[1]}({t[2]})"),
        st.tuples(st.sampled_from(["-", "+"]), inner).map(lambda t: f"{t[0]}{t[1]}"),
    )


_nested = st.recursive(_numbers, _combine, max_leaves=40)
_pow_chains = st.lists(st.integers(2, 200).map(str), min_size=2, max_size=8).map(
    lambda xs: "(" * (len(xs) - 1) + xs[0] + "".join(f"**{x})" for x in xs[1:])
)
_mul_chains = st.tuples(_numbers, st.integers(2, 400)).map(lambda t: "*".join([t[0]] * t[1]))
_long_sums = st.integers(1, 6000).map(lambda n: "+".join(["1"] * n))
_deep = st.tuples(st.integers(1, 20_000), st.sampled_from(["()", "-", "+-"])).map(
    lambda t: "(" * t[0] + "1" + ")" * t[0] if t[1] == "()" else t[1] * t[0] + "1"
)
EXPRESSIONS = st.one_of(_nested, _pow_chains, _mul_chains, _long_sums, _deep, st.text(max_size=50))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_no_generated_expression_escapes_the_budget(expression: str) -> None:
    assert is_answer(evaluate(expression))


# --- the process stays healthy -----------------------------------------------------------
PERSONAS = """
[[persona]]
id = "calc"
system_prompt = "You do arithmetic."
tools = ["calculator"]
"""


def test_a_hostile_expression_in_a_real_turn_keeps_the_lease_and_answers(
    make_bot, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The bot's own turn path (Redis lease with its watchdog, TTL 3 s, renewed every 1 s):
    the model asks the calculator for the finding's expression; the error reaches the model,
    the answer is posted, and the lease was never lost (a held GIL lets it expire)."""
    personas = tmp_path / "personas.toml"
    personas.write_text(PERSONAS)
    hostile = "((((7**100)**100)**100)**20)"
    model = ScriptedModel(
        [{"tool": "calculator", "input": {"expression": hostile}}, "That number is too large."]
    )
    lost_before = _lost_leases()
    bot = make_bot(model, PERSONAS_FILE=str(personas), LOCK_TTL_SECONDS="3")
    bot.mention("what is ((((7**100)**100)**100)**20)?", ts=now_ts())
    posted = fake_slack.wait_for("chat.postMessage", timeout=15)
    assert posted[0].params["text"].startswith("That number is too large.")
    tool_results = [
        block["toolResult"]
        for message in model.calls[1]["messages"]
        for block in message["content"]
        if "toolResult" in block
    ]
    assert tool_results[0]["content"][0]["text"].startswith("error: ")
    assert _lost_leases() == lost_before


def _lost_leases() -> float:
    return sum(
        REGISTRY.get_sample_value("tsb_lock_takeovers_total", {"reason": reason}) or 0.0
        for reason in ("taken_over", "expired")
    )
