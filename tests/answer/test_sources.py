"""Sources (bot/answer/sources.py): which links of a tool's result are kept, their labels,
and the Sources line of an answer."""

from __future__ import annotations

from bot.answer.sources import MAX_SOURCES, Source, merge, safe_url, sources_in, sources_line
from tests.support.web_tools import GOOD, HOSTILE


def test_only_plain_http_links_are_kept() -> None:
    for url in HOSTILE:
        assert safe_url(url) is None, url
    assert safe_url("HTTPS://Example.com/a") == "HTTPS://Example.com/a"
    assert safe_url("https://example.com:99999/") is None  # malformed port
    assert safe_url("https:///no-host") is None
    assert safe_url("https://example.com/a.") == "https://example.com/a"  # end of a sentence
    text = "Links: " + " ".join(HOSTILE) + f" and {GOOD}"
    assert sources_in([{"text": text}]) == [Source(GOOD, "good.example.net/ok")]


def test_links_come_from_text_and_json_deduplicated_in_order_and_limited() -> None:
    content = [
        {"text": "(see https://a.example/x) and https://a.example/x, then <https://b.example>"},
        {"json": {"hits": [{"url": "https://c.example/p/"}, ["https://a.example/x"]]}},
        {"image": {"format": "png"}},
    ]
    assert [s.url for s in sources_in(content)] == [
        "https://a.example/x",
        "https://b.example",
        "https://c.example/p/",
    ]
    many = [{"text": " ".join(f"https://h{i}.example/" for i in range(20))}]
    assert len(sources_in(many)) == MAX_SOURCES
    assert sources_in([{"text": "no links here, only www.example.com"}]) == []


def test_labels_are_short_host_and_path() -> None:
    [source] = sources_in([{"text": "https://www.example.org/guides/tasks?view=full#top"}])
    assert source.text == "example.org/guides/tasks"
    [long] = sources_in([{"text": "https://example.org/" + "p" * 300}])
    assert len(long.text) <= 60 and long.text.endswith("…")


def test_merge_keeps_the_first_of_each_link_and_a_few() -> None:
    a, b = Source("https://a.example", "a"), Source("https://b.example", "b")
    assert merge([[a, b], [b, a]]) == (a, b)
    assert len(merge([[Source(f"https://{i}.example", str(i))] for i in range(9)])) == MAX_SOURCES


def test_the_sources_line_escapes_and_neutralises_its_labels() -> None:
    line = sources_line(
        [
            Source("https://x.example/?a=1&b=2", "x.example <!channel> | @here"),
            Source("https://y.example", "y.example"),
        ]
    )
    [element] = line["elements"]
    text = element["text"]
    assert line["type"] == "context" and text.startswith(":link: Sources: ")
    assert "<https://x.example/?a=1&amp;b=2|" in text and "<https://y.example|y.example>" in text
    assert "<!channel>" not in text and "@here" not in text  # neither notifies anyone
    label = text.split("|", 1)[1].split(">", 1)[0]
    assert "<" not in label and "|" not in label  # the label cannot end the link early
    huge = [Source(f"https://h{i}.example/" + "a" * 490, "h") for i in range(10)]
    assert len(sources_line(huge)["elements"][0]["text"]) <= 3_000
