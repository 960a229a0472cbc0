"""The lean call path: OpenAI-compatible endpoints, straight over pooled HTTP.

Most offers that matter to hetflow speak the OpenAI chat API as it is (Cerebras, Groq,
SambaNova, Together, Fireworks, DeepInfra, OpenRouter, vLLM, llama.cpp, a local
server), so they need none of litellm's translation — only its price table, which the
compiler already reads without importing it.  This path posts the chat request itself:
one ``aiohttp`` session per endpoint and event loop (pooled keep-alive connections),
no retries of its own (hetflow's retry loop decides), the reply's JSON read directly;
it raises :class:`CallError`, which says itself whether it is worth retrying and how to
word it — the same semantics as :func:`llm.is_transient` and :func:`llm.describe` give
litellm's exceptions.

Why not the official ``openai`` SDK: measured on this path (bench/bench_vs_rlm.py), a
call through ``AsyncOpenAI`` costs 4-5x the CPU of the same request on aiohttp (most of
it httpx/httpcore/anyio, the rest request options and response models), which caps one
process's calls/s below what fast chips answer; and ``import openai`` takes about a
second, against a quarter for aiohttp (already installed: litellm requires it).  The
request the SDK would send — body, ``Authorization: Bearer``, JSON headers — is what
this path sends.

Which path an offer takes: the catalog's ``client = "openai" | "litellm"`` on the offer,
else :func:`default_client` by provider (docs/catalog.md).  litellm stays for every
provider that needs its translation (Anthropic, Gemini, Bedrock, Vertex, and OpenAI's
own API, whose reasoning models take other parameters).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, NamedTuple

from hetflow.plan.model import Assignment

# litellm provider prefix -> the endpoint it means (None: the offer must give api_base),
# and the variables litellm reads its key from when the offer names none.
PROVIDERS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "cerebras": ("https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",)),
    "groq": ("https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    "sambanova": ("https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",)),
    "together_ai": (
        "https://api.together.xyz/v1",
        ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
    ),
    "fireworks_ai": (
        "https://api.fireworks.ai/inference/v1",
        ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY"),
    ),
    "deepinfra": ("https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",)),
    "openrouter": ("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY", "OR_API_KEY")),
    "hosted_vllm": (None, ("HOSTED_VLLM_API_KEY",)),
    "lm_studio": (None, ("LM_STUDIO_API_KEY",)),
    "llamafile": (None, ("LLAMAFILE_API_KEY",)),
    "openai": ("https://api.openai.com/v1", ("OPENAI_API_KEY",)),
}
# Providers litellm says take a JSON schema whatever the model (its global list).
_SCHEMA_PROVIDERS = frozenset({"fireworks_ai"})
# What a server that needs no key is sent (llm.NO_KEY: never another provider's key).
NO_KEY = "no-key-needed"


class Answer(NamedTuple):
    """A reply's text, its usage as the provider sent it, and why it stopped."""

    text: str
    usage: dict[str, Any]
    finish_reason: str | None


CLIENTS = ("openai", "litellm")


def provider_of(litellm_model: str) -> str:
    """The litellm provider prefix of a model string (``openai`` for a bare name)."""
    prefix, slash, _ = litellm_model.partition("/")
    return prefix if slash and prefix in PROVIDERS else ("openai" if not slash else prefix)


def default_client(offer: Assignment) -> str:
    """``openai`` for an OpenAI-compatible endpoint, else ``litellm``.

    OpenAI's own API (``gpt-5``, ``openai/gpt-5`` with no ``api_base``) stays on litellm:
    its reasoning models want ``max_completion_tokens`` and refuse a temperature, which
    litellm translates; ``openai/NAME`` on an ``api_base`` is a compatible server.

    >>> default_client(Assignment(model="m", chip="c", litellm="cerebras/gpt-oss-120b"))
    'openai'
    >>> default_client(Assignment(model="m", chip="c", litellm="anthropic/claude-sonnet-4-5"))
    'litellm'
    >>> default_client(Assignment(model="m", chip="c", litellm="gpt-5"))
    'litellm'
    >>> default_client(Assignment(model="m", chip="c", litellm="openai/m", api_base="http://h/v1"))
    'openai'
    """
    if getattr(offer, "serve", None) == "local":  # hetflow's own llama.cpp server
        return "openai"
    prefix, slash, _ = offer.litellm.partition("/")
    if not slash or prefix not in PROVIDERS:
        return "litellm"
    if prefix == "openai" or PROVIDERS[prefix][0] is None:
        return "openai" if offer.api_base else "litellm"
    return "openai"


def uses_openai(offer: Assignment) -> bool:
    """Whether an offer's calls take this path (the catalog's ``client`` decides first)."""
    chosen = getattr(offer, "client", None)
    return (chosen or default_client(offer)) == "openai"


def endpoint(offer: Assignment) -> tuple[str, str]:
    """The base URL and the model name sent in the request.

    >>> endpoint(Assignment(model="m", chip="c", litellm="groq/openai/gpt-oss-120b"))
    ('https://api.groq.com/openai/v1', 'openai/gpt-oss-120b')
    """
    prefix, slash, rest = offer.litellm.partition("/")
    known = PROVIDERS.get(prefix) if slash else None
    model = rest if known else offer.litellm
    base = offer.api_base or (known[0] if known else None)
    if not base:
        raise CallError(
            f"no endpoint for {offer.litellm!r}: the offer needs an api_base "
            '(or client = "litellm")',
            transient=False,
        )
    return base, model


def key_variables(offer: Assignment) -> tuple[str, ...]:
    """The variables an offer's key may come from, in order."""
    if offer.api_key_env:
        return (offer.api_key_env,)
    prefix, slash, _ = offer.litellm.partition("/")
    return PROVIDERS.get(prefix if slash else "openai", (None, ()))[1]


def has_key(offer: Assignment, env: Any = os.environ) -> bool:
    """An offer naming no variable and no api_base needs its provider's usual variable."""
    if offer.api_key_env:
        return bool(env.get(offer.api_key_env))
    return bool(offer.api_base) or any(env.get(v) for v in key_variables(offer))


def api_key(offer: Assignment) -> str:
    for name in key_variables(offer):
        value = os.environ.get(name)
        if value:
            return value
    return NO_KEY  # a local server that needs none (never another provider's key)


def json_mode(offer: Assignment) -> str | None:
    """How the model takes typed output, decided as litellm decides it, from its table.

    ``schema`` where litellm's table says the model supports a response schema (or the
    provider does for every model), else ``object``: every provider of this path takes
    OpenAI's JSON mode.
    """
    from hetflow.catalog.prices import _variants, cost_table

    table = cost_table()
    for key in _variants(offer.litellm, table):
        entry = table.get(key)
        if entry is not None:
            if entry.get("supports_response_schema"):
                return "schema"
            break
    prefix = provider_of(offer.litellm)
    return "schema" if prefix in _SCHEMA_PROVIDERS else "object"


# -- the clients: one per endpoint, key and event loop --------------------------------

USER_AGENT = "hetflow"
DEFAULT_TIMEOUT_S = 600.0  # as the openai SDK's and litellm's default (connect: 5 s)


class Endpoint:
    """One endpoint's pooled keep-alive connections (an ``aiohttp`` session) and what
    each request reuses: the URL and the headers (the key)."""

    __slots__ = ("session", "url", "headers")

    def __init__(self, base: str, key: str):
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0),
            timeout=aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT_S, connect=5.0),
            skip_auto_headers=("User-Agent",),
            # a proxy the environment names is used, as the SDK and litellm use it (only
            # then: looking for one costs every request)
            trust_env=any(v.lower().endswith("_proxy") and os.environ[v] for v in os.environ),
        )
        self.url = base.rstrip("/") + "/chat/completions"
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Authorization": f"Bearer {key}",
        }


_clients: dict[tuple[int, str, str], Endpoint] = {}


def client(base: str, key: str) -> Endpoint:
    """The endpoint's client on the running loop (connections belong to one loop)."""
    k = (id(asyncio.get_running_loop()), base, key)
    found = _clients.get(k)
    if found is None:
        found = _clients[k] = Endpoint(base, key)
    return found


_runs: dict[int, int] = {}  # runs under way per event loop (they share its clients)


def hold() -> None:
    """A run starts on the running loop: its clients stay open until its last run ends."""
    loop = id(asyncio.get_running_loop())
    _runs[loop] = _runs.get(loop, 0) + 1


async def aclose() -> None:
    """A run ends: close the running loop's clients if no other run of it uses them
    (its loop may close next; runs at once on one loop, as ``hetflow tune`` makes
    them, share the connections)."""
    loop = id(asyncio.get_running_loop())
    left = _runs.pop(loop, 0) - 1
    if left > 0:
        _runs[loop] = left
        return
    for k in [k for k in _clients if k[0] == loop]:
        try:
            await _clients.pop(k).session.close()
        except Exception:  # closing is best effort
            pass


# -- a call -----------------------------------------------------------------------------

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


async def complete(
    offer: Assignment,
    messages: list[dict],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
    response_format: dict | None = None,
    extra: dict[str, Any] | None = None,
) -> Answer:
    """One chat completion; raises :class:`CallError` (or TimeoutError)."""
    base, model = endpoint(offer)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = int(max_tokens)
    if temperature is not None:
        body["temperature"] = temperature
    if response_format is not None:
        body["response_format"] = response_format
    if extra:
        body.update(extra)
    the_client = client(base, api_key(offer))
    call = _post(the_client, _dumps(body).encode(), timeout)
    data = await (asyncio.wait_for(call, timeout + 1.0) if timeout else call)
    try:
        choice = data["choices"][0]
        message = choice["message"]  # a choice without one is no completion
        text = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise CallError(_malformed(data), transient=False) from None
    usage = data.get("usage")
    finish = choice.get("finish_reason")
    return Answer(
        text if isinstance(text, str) else str(text),
        usage if isinstance(usage, dict) else {},
        finish if isinstance(finish, str) else None,
    )


async def _post(endpoint: Endpoint, content: bytes, timeout: float | None) -> Any:
    import aiohttp

    try:
        if timeout is None:
            request = endpoint.session.post(endpoint.url, data=content, headers=endpoint.headers)
        else:
            request = endpoint.session.post(
                endpoint.url,
                data=content,
                headers=endpoint.headers,
                timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0)),
            )
        async with request as response:
            raw = await response.read()
            status = response.status
    except (asyncio.TimeoutError, TimeoutError) as exc:
        raise TimeoutError("timed out") from exc
    except (aiohttp.ClientError, OSError) as exc:  # refused, reset, cut off
        if dns_failure(exc):  # it will not resolve in half a second either
            raise CallError(
                "cannot reach the endpoint (its host name does not resolve)", transient=False
            ) from exc
        if truncated(exc):
            raise CallError(
                "the reply was cut off (the server hung up before its reply was whole)",
                transient=True,
            ) from exc
        raise CallError(f"cannot reach the endpoint ({_unreachable(exc)})", transient=True) from exc
    if status >= 400:
        raise _status_error(status, raw, response)
    try:
        data = json.loads(raw)
    except ValueError:
        raise CallError(f"malformed reply: not JSON: {_short(raw)}", transient=False) from None
    if not isinstance(data, dict):
        raise CallError(f"malformed reply: {_short(data)}", transient=False)
    return data


# -- errors -----------------------------------------------------------------------------


class CallError(Exception):
    """A failed call, classified: ``transient`` (worth retrying) and a one-line
    ``description`` (calls.py redacts it).  ``response`` is the HTTP response, if any,
    for its ``Retry-After``; ``status_code`` its status."""

    def __init__(
        self,
        description: str,
        *,
        transient: bool,
        status_code: int | None = None,
        response: Any = None,
    ):
        super().__init__(description)
        self.description = description
        self.transient = transient
        self.status_code = status_code
        self.response = response


# The names litellm gives the same failures, so a trace reads the same on either path.
_STATUS_NAMES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def is_transient_status(status: int) -> bool:
    """429, 408 and every 5xx are worth retrying (as litellm's classes say)."""
    return status in (408, 429) or status >= 500


def _status_error(status: int, raw: bytes, response: Any) -> CallError:
    """A 4xx/5xx as the SDK words it: the body's ``error.message``, else the body."""
    name = _STATUS_NAMES.get(status) or ("InternalServerError" if status >= 500 else "APIError")
    message = ""
    try:
        body = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    if isinstance(body, dict):
        err = body.get("error", body)
        message = str(err.get("message") or "") if isinstance(err, dict) else str(err or "")
    elif isinstance(body, str):
        message = body
    first = message.strip().splitlines()[0] if message.strip() else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return CallError(
        f"{name} {status}" + (f": {first}" if first else ""),
        transient=is_transient_status(status),
        status_code=status,
        response=response,
    )


def _malformed(data: Any) -> str:
    """Why a JSON body is not a chat completion (a server's fault: not asked again)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if isinstance(choices, list) and not choices:
        return "malformed reply: no choices (choices: [])"
    if isinstance(choices, list) and isinstance(choices[0], dict):
        return "malformed reply: the choice has no message"
    return f"malformed reply: {_short(data)}"


def _chain(exc: BaseException, limit: int = 8) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(out) < limit:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


# The server hung up after the connection was made, before its reply was whole.
_TRUNCATED = {
    "ClientPayloadError",
    "ContentLengthError",
    "ServerDisconnectedError",
    "RemoteProtocolError",
    "IncompleteRead",
}


def truncated(exc: BaseException) -> bool:
    """The body is shorter than promised: the server hung up mid-reply (either path)."""
    return any(type(e).__name__ in _TRUNCATED for e in _chain(exc))


def dns_failure(exc: BaseException) -> bool:
    """The endpoint's host name does not resolve (not a temporary resolver failure)."""
    import socket

    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return e.errno != socket.EAI_AGAIN
        if type(e).__name__ == "ClientConnectorDNSError" and "Temporary" not in str(e):
            return True
    return False


def _unreachable(exc: BaseException) -> str:
    """Why no connection was made, in llm.describe's words, from the cause chain."""
    chain: BaseException | None = exc
    for _ in range(8):
        if chain is None:
            break
        if isinstance(chain, ConnectionRefusedError):
            return "connection refused"
        if isinstance(chain, OSError) and "Name or service not known" in str(chain):
            return "unknown host"
        chain = chain.__cause__ or chain.__context__
    return "no connection"


def _short(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    text = " ".join(text.split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def preload() -> None:
    """Import the HTTP client (before a run's clock starts, not on the first call)."""
    import aiohttp  # noqa: F401
