"""What every HTTP client of a connection shares in a process: SSL contexts and cheap async clients.

A triggerer builds one client per deferred sensor. httpx loads certifi's CA bundle into a new
``ssl.SSLContext`` for every client (about 30 ms of CPU and 800 KB each) and scans the whole
environment for proxies; both happen here once per process instead, so a client costs well under a
millisecond. Clients are not shared between hooks: httpx's pool scans all of its connections on every
request, which costs more than it saves with hundreds of concurrent pollers (measured in
``bench/triggerer_scale.py``).
"""

from __future__ import annotations

import functools
import ssl
import threading
import urllib.request

import airflow.sdk.execution_time.supervisor  # noqa: F401 - see below
import anyio._backends._asyncio  # noqa: F401
import asgiref.sync  # noqa: F401
import httpcore._backends.anyio  # noqa: F401
import httpx

from lockit_provider.hooks import single_flight

# httpx (anyio's asyncio backend) and Airflow's ``aget_connection`` (asgiref, and the supervisor module
# for its secrets backends: 25 ms) import these on first use, which in a triggerer can happen on the
# event loop: 0.1-0.3 s of imports once per process. Here they load with the hook module instead.
_contexts: dict[str | None, ssl.SSLContext] = {}
_contexts_guard = threading.Lock()


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Return the process's SSL context for a CA bundle (None: certifi's), building it on first use.

    Blocks for tens of milliseconds the first time: from a coroutine use :func:`async_ssl_context`.
    """
    context = _contexts.get(ca_bundle)
    if context is None:
        with _contexts_guard:
            context = _contexts.get(ca_bundle)
            if context is None:
                # No bundle: what httpx itself would load (SSL_CERT_FILE/SSL_CERT_DIR, else certifi).
                context = (
                    ssl.create_default_context(cafile=ca_bundle) if ca_bundle else httpx.create_ssl_context()
                )
                _contexts[ca_bundle] = context
    return context


async def async_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Return :func:`ssl_context`, built on a worker thread the first time so the event loop never waits.

    Hooks that start together share that one hop (a hop each would queue hundreds of thread round trips
    whose answers land in the same loop turn).
    """
    context = _contexts.get(ca_bundle)
    if context is None:
        context = await single_flight.once(("ssl", ca_bundle), functools.partial(ssl_context, ca_bundle))
    return context


@functools.cache
def _environment_has_proxies() -> bool:
    """Tell whether ``*_PROXY`` variables are set (read once: the scan costs ~0.5 ms per client)."""
    return bool(urllib.request.getproxies())


def async_client(context: ssl.SSLContext, timeout: httpx.Timeout, auth: httpx.Auth) -> httpx.AsyncClient:
    """Return a new ``httpx.AsyncClient`` on a shared SSL context; cheap enough to build on the loop.

    Proxy variables are honoured as httpx does when any is set; otherwise httpx is told not to look.
    """
    return httpx.AsyncClient(
        auth=auth,
        verify=context,
        timeout=timeout,
        headers={"Accept": "application/json"},
        trust_env=_environment_has_proxies(),
    )


_READ = httpx.ByteStream(b"")


def release_stream(response: httpx.Response) -> None:
    """Drop a read response's stream, which points back at the response.

    httpx binds the stream to its response (a reference cycle of about 25 objects per call). Left in
    place, every poll leaves garbage that only the cycle collector frees; with hundreds of pollers
    that doubles the collections a triggerer runs, and each full one holds the event loop for
    ~0.2 s. The body was read already (``response.content``), so the stream is never needed again.
    """
    if response.is_closed:
        response.stream = _READ
