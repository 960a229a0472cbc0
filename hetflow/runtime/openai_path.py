"""The lean call path: OpenAI-compatible endpoints through the official ``openai`` client.

Most offers that matter to hetflow speak the OpenAI chat API as it is (Cerebras, Groq,
SambaNova, Together, Fireworks, DeepInfra, OpenRouter, vLLM, llama.cpp, a local
server), so they need none of litellm's translation — only its price table, which the
compiler already reads without importing it.  This path sends the request with one
``AsyncOpenAI`` client per endpoint and event loop (one pooled ``httpx`` client,
keep-alive, the SDK's own retries off: hetflow's retry loop decides), reads the reply's
JSON directly, and raises :class:`CallError`, which says itself whether it is worth
retrying and how to word it — the same semantics as :func:`llm.is_transient` and
:func:`llm.describe` give litellm's exceptions.

Which path an offer takes: the catalog's ``client = "openai" | "litellm"`` on the offer,
else :func:`default_client` by provider (docs/catalog.md).  litellm stays for every
provider that needs its translation (Anthropic, Gemini, Bedrock, Vertex, and OpenAI's
own API, whose reasoning models take other parameters).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from hetflow.plan.model import Assignment

if TYPE_CHECKING:  # the SDK is imported on the first call, never by compile
    from openai import AsyncOpenAI

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
    """A reply's text, its usage as counts (None: not reported) and the usage as sent."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    usage: dict[str, Any]


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

_clients: dict[tuple[int, str, str], AsyncOpenAI] = {}


def client(base: str, key: str, concurrency: int = 1) -> AsyncOpenAI:
    """The pooled client of an endpoint on the running loop (connections are per loop)."""
    loop = asyncio.get_running_loop()
    k = (id(loop), base, key)
    found = _clients.get(k)
    if found is None:
        import httpx
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        keep = max(100, concurrency)
        http = DefaultAsyncHttpxClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=keep),
        )
        found = _clients[k] = AsyncOpenAI(
            api_key=key, base_url=base, max_retries=0, http_client=http
        )
    return found


async def aclose() -> None:
    """Close the running loop's clients (a run's end: its loop may close next)."""
    loop = id(asyncio.get_running_loop())
    for k in [k for k in _clients if k[0] == loop]:
        try:
            await _clients.pop(k).close()
        except Exception:  # closing is best effort
            pass


# -- a call -----------------------------------------------------------------------------

_OPTIONS: dict[float | None, dict[str, Any]] = {}  # request options per timeout, made once


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
    the_client = client(base, api_key(offer), offer.concurrency)
    options = _OPTIONS.get(timeout)
    if options is None:
        options = _OPTIONS[timeout] = {} if timeout is None else {"timeout": timeout}
    call = _post(the_client, body, options)
    data = await (asyncio.wait_for(call, timeout + 1.0) if timeout else call)
    try:
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise CallError(f"malformed reply: {_short(data)}", transient=True) from None
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    return Answer(
        text if isinstance(text, str) else str(text),
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        usage,
    )


async def _post(the_client: AsyncOpenAI, body: dict, options: dict) -> Any:
    import httpx
    import openai

    try:
        response = await the_client.post(
            "/chat/completions", body=body, cast_to=httpx.Response, options=options
        )
        raw = response.content
    except openai.APIStatusError as exc:
        raise _status_error(exc) from exc
    except openai.APITimeoutError as exc:
        raise TimeoutError("timed out") from exc
    except openai.APIConnectionError as exc:
        raise _connection_error(exc) from exc
    except httpx.HTTPError as exc:  # a body cut off while it was read
        raise CallError(f"{type(exc).__name__}: {exc}", transient=True) from exc
    try:
        data = json.loads(raw)
    except ValueError:
        raise CallError(f"malformed reply: not JSON: {_short(raw)}", transient=True) from None
    if not isinstance(data, dict):
        raise CallError(f"malformed reply: {_short(data)}", transient=True)
    return data


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def _status_error(exc: Any) -> CallError:
    status = int(getattr(exc, "status_code", 0) or 0)
    name = _STATUS_NAMES.get(status) or ("InternalServerError" if status >= 500 else "APIError")
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or "")
    if not message:
        message = str(getattr(exc, "message", "") or "")
    first = message.strip().splitlines()[0] if message.strip() else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return CallError(
        f"{name} {status}" + (f": {first}" if first else ""),
        transient=is_transient_status(status),
        status_code=status,
        response=getattr(exc, "response", None),
    )


def _connection_error(exc: BaseException) -> CallError:
    return CallError(f"cannot reach the endpoint ({_unreachable(exc)})", transient=True)


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
    """Import the SDK and what its first request needs (before a run's clock starts)."""
    import httpx  # noqa: F401
    import openai  # noqa: F401
