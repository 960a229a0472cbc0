"""``hetflow catalog list|show|validate``: output and exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from hetflow.catalog import load_catalog
from hetflow.commands import catalog as command
from hetflow.commands.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "catalogs"


def hetflow(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the subcommand through its own argparse registration, as the CLI does."""
    parser = argparse.ArgumentParser(prog="hetflow")
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_prints_every_offer_as_plain_columns(capsys):
    code, out, err = hetflow(capsys, "catalog", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    default = load_catalog(None)
    assert lines[0] == f"catalog 'default': {len(default.offers)} offers"
    assert lines[1].split() == [
        "offer", "model", "chip", "litellm", "tok/s", "ttft", "ms", "conc", "$/Mtok", "in",
        "$/Mtok", "out",
    ]  # fmt: skip
    assert len(lines) == 2 + len(default.offers)
    cerebras = next(line for line in lines if line.startswith("gpt-oss-120b@cerebras-wse3"))
    offer = default.offer("gpt-oss-120b@cerebras-wse3")
    assert cerebras.split() == [
        offer.id, offer.model, offer.chip, offer.litellm, f"{offer.output_tps:g}",
        f"{offer.ttft_ms:g}", str(offer.concurrency), f"{offer.input_per_mtok:.4g}",
        f"{offer.output_per_mtok:.4g}",
    ]  # fmt: skip
    assert "\x1b[" not in out  # no terminal codes in a pipe


def test_list_marks_per_hour_offers(capsys):
    code, out, _ = hetflow(capsys, "catalog", "list", "--catalog", str(FIXTURES / "full.toml"))
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("llama-3.1-8b@nvidia-h100"))
    assert row.endswith("*")
    assert out.splitlines()[-1].startswith("* self-hosted")


def test_show_a_model_lists_its_offers_and_source(capsys):
    code, out, _ = hetflow(capsys, "catalog", "show", "gpt-oss-120b")
    assert code == 0
    assert out.startswith("model gpt-oss-120b\n")
    assert "source" in out and "OpenAI gpt-oss model card" in out
    for chip in ("cerebras-wse3", "sambanova-sn40l", "groq-lpu", "nvidia-h100"):
        assert f"gpt-oss-120b@{chip}" in out


def test_show_an_offer_prints_all_its_figures(capsys):
    code, out, _ = hetflow(capsys, "catalog", "show", "gpt-5@nvidia-h100")
    assert code == 0
    for key in ("litellm", "output_tps", "prefill_tps", "ttft_ms", "concurrency",
                "input_per_mtok", "output_per_mtok", "api_key_env", "source", "prices_from"):  # fmt: skip
        assert f"  {key} " in out
    offer = load_catalog(None).offer("gpt-5@nvidia-h100")
    thinks = offer.reasoning_tokens(None, 10_000)  # GPT-5 reasons before it answers
    assert f"+ {thinks:,.0f} reasoning at medium" in out and "  thinking " in out
    assert f"{offer.call_latency_s(10_000, 500 + thinks):.2f} s" in out


def test_show_a_chip(capsys):
    code, out, _ = hetflow(capsys, "catalog", "show", "groq-lpu")
    assert code == 0 and out.startswith("chip groq-lpu\n") and "vendor" in out
    assert "llama-3.3-70b@groq-lpu" in out


def test_show_by_litellm_string(capsys):
    code, out, _ = hetflow(capsys, "catalog", "show", "cerebras/llama3.1-8b")
    assert code == 0 and out.startswith("offer llama-3.1-8b@cerebras-wse3")


def test_show_hides_credentials_in_an_api_base(capsys, tmp_path):
    text = (
        (FIXTURES / "full.toml")
        .read_text()
        .replace("http://10.0.0.5:8000/v1", "http://me:hunter2@10.0.0.5:8000/v1")
    )
    path = tmp_path / "creds.toml"
    path.write_text(text)
    code, out, _ = hetflow(
        capsys, "catalog", "show", "llama-3.1-8b@nvidia-h100", "--catalog", str(path)
    )
    assert code == 0 and "hunter2" not in out and "***@10.0.0.5:8000" in out


def test_show_unknown_name_suggests_and_exits_1(capsys):
    code, out, err = hetflow(capsys, "catalog", "show", "gtp-5")
    assert code == 1 and out == ""
    assert err.strip() == (
        "hetflow: error: catalog 'default' has no model, chip or offer 'gtp-5'; did you mean 'gpt-5'?"
    )


def test_validate_a_good_file(capsys):
    path = FIXTURES / "full.toml"
    code, out, err = hetflow(capsys, "catalog", "validate", str(path))
    cat = load_catalog(path)
    assert code == 0 and err == ""
    assert out.strip() == (
        f"{path}: ok: catalog 'my-lab', 3 chips, 2 models, 3 offers (sha256 {cat.hash[:12]})"
    )


def test_validate_takes_the_file_as_catalog_too_and_defaults_to_the_shipped_one(capsys):
    path = FIXTURES / "full.toml"
    code, out, _ = hetflow(capsys, "catalog", "validate", "--catalog", str(path))
    assert code == 0 and out.startswith(f"{path}: ok: catalog 'my-lab'")
    code, out, _ = hetflow(capsys, "catalog", "validate")
    assert code == 0 and out.startswith("<default catalog>: ok: catalog 'default'")
    assert main(["catalog", "validate", str(path), "--catalog", "other.toml"]) == 1
    assert "give the file once" in capsys.readouterr().err


def test_validate_prints_warnings_but_passes(capsys):
    path = FIXTURES / "typo_key.toml"
    code, out, err = hetflow(capsys, "catalog", "validate", str(path))
    assert code == 0 and "ok:" in out
    assert f"{path}:13:1: warning: unknown key 'concurency'" in err


@pytest.mark.parametrize("name", ["bad_skill.toml", "unknown_chip.toml", "bad_syntax.toml"])
def test_validate_a_bad_file_exits_1_with_positioned_errors(capsys, name):
    path = FIXTURES / name
    code, out, err = hetflow(capsys, "catalog", "validate", str(path))
    assert code == 1 and out == ""
    assert err.startswith(f"{path}:")
    assert ": error: " in err.splitlines()[0]
    assert err.splitlines()[-1] == f"{path}: 1 error"


def test_validate_a_missing_file(capsys, tmp_path):
    code, _, err = hetflow(capsys, "catalog", "validate", str(tmp_path / "none.toml"))
    assert code == 1 and "not found" in err


def test_list_with_a_bad_catalog_exits_1(capsys):
    code, out, err = hetflow(
        capsys, "catalog", "list", "--catalog", str(FIXTURES / "no_price.toml")
    )
    assert code == 1 and out == "" and "has no price" in err


def test_through_the_hetflow_command():
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "hetflow", *a], capture_output=True, text=True
    )
    ok = run("catalog", "validate", str(FIXTURES / "full.toml"))
    assert ok.returncode == 0 and "ok: catalog 'my-lab'" in ok.stdout
    bad = run("catalog", "validate", str(FIXTURES / "duplicate_offer.toml"))
    assert bad.returncode == 1 and "listed twice" in bad.stderr and "Traceback" not in bad.stderr
    usage = run("catalog")
    assert usage.returncode == 2


def test_list_as_json_for_tools(capsys):
    import json

    code, out, _ = hetflow(capsys, "catalog", "list", "--format", "json")
    data = json.loads(out)
    default = load_catalog(None)
    assert code == 0 and data["name"] == "default" and data["hash"] == default.hash
    assert [o["id"] for o in data["offers"]] == [o.id for o in default.offers]
    assert data["chips"]["cpu"]["vendor"] == "local"
    assert data["models"]["gpt-5"]["reasoning"] == 5
