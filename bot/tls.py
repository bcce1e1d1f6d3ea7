"""One TLS context per process for each HTTP stack, instead of one per connection or client.

Building a context loads the whole CA bundle: about 0.8 MB and 30-40 ms of CPU each time
(OpenSSL 3). urllib (slack_sdk's WebClient, file downloads) builds one per HTTPS connection
when given none, and httpx one per client (Strands' OpenAI model builds a client per
request). A context is safe to share between threads; it is built on first use, in the
process that uses it.
"""

from __future__ import annotations

import functools
import ssl


class _Shared(ssl.SSLContext):
    """A context that copies share: Bolt deep-copies each lazily handled request, the
    WebClient and its context with it, and a plain SSLContext cannot be copied."""

    def __copy__(self) -> _Shared:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _Shared:
        return self


@functools.cache
def default_context() -> ssl.SSLContext:
    """What urllib's HTTPS connections build when given no context: the system's CAs."""
    context = ssl.create_default_context()  # exactly its settings, on this Python
    context.__class__ = _Shared
    return context


@functools.cache
def httpx_context() -> ssl.SSLContext:
    """What an httpx client builds by default (certifi, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    import httpx

    return httpx.create_ssl_context()
