"""The one module that talks to litellm: a model call, its reply, and its errors.

litellm is heavy (seconds to import) and fetches a remote price map on import unless
told not to, so it is imported here, lazily, on the first call — ``hetflow compile``
and ``hetflow --help`` never load it.  ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set
before the import unless the user set that variable: the runtime makes no network call
but the model calls.  litellm's own retries are off (``num_retries=0``): the runtime's
retry loop decides (see :mod:`hetflow.runtime.calls`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from hetflow.plan.model import Assignment
from hetflow.runtime import openai_path

# An offer with an api_base but no key variable is a self-hosted endpoint that needs no
# key; litellm's OpenAI client insists on one, so it gets this placeholder (and never a
# key from the environment meant for another provider).
NO_KEY = "no-key-needed"


@functools.lru_cache(maxsize=1)
def litellm():
    """Import litellm once, with its remote price-map fetch and telemetry off."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm as _litellm

    _litellm.suppress_debug_info = True
    _litellm.telemetry = False
    _litellm.drop_params = True  # an option a provider lacks is dropped, not an error
    try:  # the OpenAI client imports its chat modules on first use: a second, mid-run
        import openai.resources.chat  # noqa: F401
    except ImportError:
        pass
    return _litellm


def lean(offer: Assignment) -> bool:
    """Whether an offer's calls take the lean OpenAI-compatible path, not litellm."""
    return openai_path.uses_openai(offer)


def structured_mode(offer: Assignment) -> str | None:
    """How a typed step asks this offer for JSON: ``"schema"``, ``"object"`` or None.

    The offer's ``structured_output`` decides when the catalog gives it.  Otherwise a
    local offer and any offer with its own ``api_base`` (an OpenAI-compatible server:
    llama.cpp, vLLM, SGLang all take a JSON schema) get the schema; litellm's tables
    know nothing of such ``openai/<custom>`` models and would say JSON mode only, which
    sends no schema (small models then copy the schema back instead of filling it in).
    A hosted provider gets what litellm's table says it supports (without importing
    litellm on the lean path).
    """
    given = offer.structured_output
    if given is not None:
        return {"json_schema": "schema", "json_object": "object"}.get(given)
    if offer.serve == "local" or offer.api_base:
        return "schema"
    if lean(offer):
        return openai_path.json_mode(offer)
    return json_mode(offer.litellm)


async def settle() -> None:
    """Let litellm finish its own bookkeeping tasks before this run's event loop closes.

    litellm queues logging work on the running loop; left pending, the next run's loop
    inherits it with a warning on stderr.
    """
    if "litellm" not in sys.modules:
        return
    try:
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        await asyncio.wait_for(GLOBAL_LOGGING_WORKER.flush(), 2.0)
    except Exception:  # an internal of litellm's that moved: never fail a run over it
        pass


@dataclass
class Reply:
    """What a call returned: the text and the usage the provider reported (or None).

    ``output_tokens`` is everything billed as output, hidden reasoning included;
    ``reasoning_tokens`` the part of it the model spent reasoning (None: not reported).
    """

    text: str
    input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None = None
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        # JSON may carry a lone surrogate ("\ud800"), which no UTF-8 file, database or
        # terminal takes: it becomes "?" here, once, before anything counts or stores it
        if isinstance(self.text, str):
            self.text = self.text.encode("utf-8", "replace").decode("utf-8")


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


MAX_COUNT = 10**12  # more tokens than any call has: a larger count is not a count


def _count(value: Any) -> int | None:
    """A reported token count, or None when it is not one (NaN, Infinity — which JSON
    parsers accept — negative, or absurdly large): the call is then charged what its
    text shows (budget.charged_usage)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return int(value) if ok and 0 <= value <= MAX_COUNT else None


def usage_of(usage: Any) -> tuple[int | None, int | None, int | None]:
    """``(input, output, reasoning)`` tokens from a response's ``usage`` (object or dict).

    Output is everything billed as output.  OpenAI-style usage counts the reasoning
    inside ``completion_tokens`` and says how much in
    ``completion_tokens_details.reasoning_tokens``; a provider that reports more
    reasoning than completion tokens counted them apart, and they are added.

    >>> usage_of({"prompt_tokens": 10, "completion_tokens": 50,
    ...           "completion_tokens_details": {"reasoning_tokens": 40}})
    (10, 50, 40)
    >>> usage_of({"prompt_tokens": 10, "completion_tokens": 5, "reasoning_tokens": 40})
    (10, 45, 40)
    >>> usage_of(None)
    (None, None, None)
    """
    if usage is None:
        return None, None, None
    prompt = _count(_field(usage, "prompt_tokens"))
    completion = _count(_field(usage, "completion_tokens"))
    details = _field(usage, "completion_tokens_details")
    reasoning = _count(_field(details, "reasoning_tokens")) if details is not None else None
    if reasoning is None:
        reasoning = _count(_field(usage, "reasoning_tokens"))
    if reasoning is not None and completion is not None and reasoning > completion:
        completion += reasoning
    return prompt, completion, reasoning


def api_key(offer: Assignment) -> str | None:
    if offer.api_key_env and os.environ.get(offer.api_key_env):
        return os.environ[offer.api_key_env]
    if offer.api_base:
        return NO_KEY
    return None


async def complete(
    offer: Assignment,
    messages: list[dict],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
    response_format: dict | None = None,
    extra: dict[str, Any] | None = None,
) -> Reply:
    """One chat completion on an offer; raises litellm's exceptions (or TimeoutError).

    An OpenAI-compatible offer takes the lean path (:mod:`hetflow.runtime.openai_path`,
    whose errors classify themselves), unless a litellm-only option (a mocked reply) asks
    for litellm.
    """
    if lean(offer) and not (extra and "mock_response" in extra):
        answer = await openai_path.complete(
            offer,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            timeout=timeout,
            response_format=response_format,
            extra=extra,
        )
        tokens_in, tokens_out, reasoning = usage_of(answer.usage)
        return Reply(answer.text, tokens_in, tokens_out, reasoning, answer.finish_reason)
    lt = litellm()
    kwargs: dict[str, Any] = {"model": offer.litellm, "messages": messages, "num_retries": 0}
    if offer.api_base:
        kwargs["api_base"] = offer.api_base
    key = api_key(offer)
    if key is not None:
        kwargs["api_key"] = key
    if max_tokens is not None:
        kwargs["max_tokens"] = int(max_tokens)
    if temperature is not None:
        kwargs["temperature"] = temperature
    if timeout is not None:
        kwargs["timeout"] = timeout
    if response_format is not None:
        kwargs["response_format"] = response_format
    if extra:
        kwargs.update(extra)
    call = lt.acompletion(**kwargs)
    # litellm's timeout covers the HTTP exchange; this one covers everything around it.
    response = await (asyncio.wait_for(call, timeout + 1.0) if timeout else call)
    text = reply_text(response)  # MalformedReply when there is no choice or message
    choice = response.choices[0]
    tokens_in, tokens_out, reasoning = usage_of(getattr(response, "usage", None))
    finish = getattr(choice, "finish_reason", None)
    return Reply(
        text, tokens_in, tokens_out, reasoning, finish if isinstance(finish, str) else None
    )


class MalformedReply(Exception):
    """A reply that is not a chat completion (no choice, no message): the server's fault,
    not worth asking the same offer again."""

    transient = False


def reply_text(response: Any) -> str:
    """The text of a completion's first choice; :class:`MalformedReply` if it has none."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise MalformedReply("malformed reply: no choices (choices: [])")
    message = getattr(choices[0], "message", None)
    if message is None:
        raise MalformedReply("malformed reply: the choice has no message")
    return getattr(message, "content", None) or ""


def retry_after(exc: BaseException) -> float | None:
    """The seconds a provider's ``Retry-After`` (or ``retry-after-ms``) asks to wait.

    litellm keeps the response's headers in ``litellm_response_headers`` on the
    exception; its ``response.headers`` is empty.

    >>> class E(Exception): litellm_response_headers = {"retry-after": "3"}
    >>> retry_after(E())
    3.0
    """
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not headers:
            continue
        try:
            ms = headers.get("retry-after-ms")
            if ms is not None:
                return max(0.0, float(ms) / 1000.0)
            value = headers.get("retry-after")
        except (AttributeError, TypeError, ValueError):
            continue
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            pass
        try:  # an HTTP date
            import time as _time
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(str(value)).timestamp() - _time.time())
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None


_chain = openai_path._chain
_truncated = openai_path.truncated  # the server hung up mid-reply
_dns_failure = openai_path.dns_failure  # a host name that does not resolve


def _not_json(exc: BaseException) -> str | None:
    import json

    for e in _chain(exc):
        if isinstance(e, json.JSONDecodeError):
            return e.msg
    return None


def _unreadable(exc: BaseException) -> bool:
    """litellm could not make a completion of the body (e.g. a choice without message)."""
    return "Invalid response object" in str(getattr(exc, "message", None) or exc)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying on the same offer: rate limits, 5xx, timeouts, dropped connections.

    Not a host name that does not resolve (it will not resolve in half a second either),
    nor a reply that is not a completion.
    """
    said = getattr(exc, "transient", None)  # the lean path's errors classify themselves
    if isinstance(said, bool):
        return said
    if _dns_failure(exc) or isinstance(exc, MalformedReply) or _unreadable(exc):
        return False
    if _not_json(exc) is not None and not _truncated(exc):
        return False
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    if "litellm" not in sys.modules:  # no call was made through litellm
        return False
    lt = litellm()
    transient = (
        lt.RateLimitError,
        lt.InternalServerError,
        lt.ServiceUnavailableError,
        lt.BadGatewayError,
        lt.Timeout,
        lt.APIConnectionError,
    )
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def describe(exc: BaseException) -> str:
    """A one-line account of a failed call (the caller redacts it)."""
    said = getattr(exc, "description", None)  # the lean path's errors word themselves
    if isinstance(said, str):
        return said
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or type(exc).__name__ in (
        "Timeout",
        "APITimeoutError",
    ):
        return "timed out"
    if isinstance(exc, MalformedReply):
        return str(exc)
    if _dns_failure(exc):
        return "cannot reach the endpoint (its host name does not resolve)"
    if _truncated(exc):
        return "the reply was cut off (the server hung up before its reply was whole)"
    bad_json = _not_json(exc)
    if bad_json is not None:
        return f"malformed reply: not JSON ({bad_json})"
    if _unreadable(exc):
        return "malformed reply: not a chat completion (a choice without a message?)"
    unreachable = _unreachable(exc)
    if unreachable:
        return f"cannot reach the endpoint ({unreachable})"
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", None) or exc).strip().splitlines()
    first = message[0] if message else ""
    first = first.partition("Traceback (most recent call last)")[0].strip()
    first = first.removeprefix("litellm.").strip()
    # litellm repeats class names in its message, its own and the one it wrapped
    # ("litellm.BadRequestError: ContextWindowExceededError: ..."): the name is said once
    while (m := _CLASS_PREFIX.match(first)) is not None:
        first = first[m.end() :].strip()
    # ... and the provider's exception name ("OpenAIException - "): the lean path's
    # message is the provider's alone, and a trace reads the same on either path.
    first = re.sub(r"^[A-Za-z]+Exception - ", "", first)
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{name}" + (f" {status}" if status else "") + (f": {first}" if first else "")


_CLASS_PREFIX = re.compile(r"(?:litellm\.)?[A-Z][A-Za-z]*(?:Error|Exception):\s*")
_CONNECT = {"APIConnectionError", "ConnectError", "ClientConnectorError", "ConnectTimeout"}


def _unreachable(exc: BaseException) -> str | None:
    """Why no connection was made, if that is what failed (litellm calls it a 500).

    >>> try:
    ...     raise RuntimeError("x") from ConnectionRefusedError(111, "Connect call failed")
    ... except RuntimeError as e:
    ...     _unreachable(e)
    'connection refused'
    """
    seen = 0
    chain: BaseException | None = exc
    found = False
    while chain is not None and seen < 8:
        if isinstance(chain, ConnectionRefusedError):
            return "connection refused"
        if isinstance(chain, OSError) and "Name or service not known" in str(chain):
            return "unknown host"
        found = found or type(chain).__name__ in _CONNECT
        chain, seen = chain.__cause__ or chain.__context__, seen + 1
    return "no connection" if found else None


@functools.lru_cache(maxsize=256)
def json_mode(litellm_model: str) -> str | None:
    """How a model takes typed output: ``"schema"``, ``"object"`` (JSON mode) or None."""
    lt = litellm()
    try:
        model, provider, _, _ = lt.get_llm_provider(litellm_model)
    except Exception:
        return None
    try:
        if lt.supports_response_schema(model=model, custom_llm_provider=provider):
            return "schema"
    except Exception:
        pass
    try:
        params = lt.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:
        params = None
    return "object" if params and "response_format" in params else None
