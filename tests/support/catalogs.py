"""Test catalogs whose offers point at the local OpenAI server (``api_base``)."""

from __future__ import annotations

from pathlib import Path

OFFER = """
[[offers]]
model = "{model}"
chip = "{chip}"
litellm = "openai/{model}"
output_tps = {tps}
prefill_tps = 20000
ttft_ms = {ttft}
concurrency = {concurrency}
input_per_mtok = {pin}
output_per_mtok = {pout}
api_base = "{url}"
{key}
"""

MODELS = """
[catalog]
name = "local-test"

[chips.groq-lpu]
vendor = "Groq"
handoff_ms = 10

[chips.nvidia-h100]
vendor = "NVIDIA"
handoff_ms = 5

[chips.cerebras-wse3]
vendor = "Cerebras"
handoff_ms = 10

[models.small]
reasoning = 2
coding = 2
extraction = 3
vision = 3
context = 131072

[models.coder]
reasoning = 4
coding = 5
extraction = 4
vision = 0
context = 131072

[models.big]
reasoning = 5
coding = 5
extraction = 5
vision = 4
context = 131072
"""


def local_catalog(
    tmp: Path,
    url: str,
    *,
    small_concurrency: int = 4,
    coder_concurrency: int = 8,
    big_key_env: str | None = None,
    extra: str = "",
) -> Path:
    """small@groq-lpu (cheap, fast), coder@cerebras-wse3, big@nvidia-h100 (strong, dear)."""
    key = f'api_key_env = "{big_key_env}"' if big_key_env else ""
    text = (
        MODELS
        + "".join(
            [
                OFFER.format(
                    model="small",
                    chip="groq-lpu",
                    tps=800,
                    ttft=50,
                    concurrency=small_concurrency,
                    pin=0.1,
                    pout=0.2,
                    url=url,
                    key="",
                ),
                OFFER.format(
                    model="coder",
                    chip="cerebras-wse3",
                    tps=1500,
                    ttft=80,
                    concurrency=coder_concurrency,
                    pin=0.5,
                    pout=1.0,
                    url=url,
                    key="",
                ),
                OFFER.format(
                    model="big",
                    chip="nvidia-h100",
                    tps=100,
                    ttft=300,
                    concurrency=8,
                    pin=2.0,
                    pout=8.0,
                    url=url,
                    key=key,
                ),
            ]
        )
        + extra
    )
    path = tmp / "catalog.toml"
    path.write_text(text)
    return path
