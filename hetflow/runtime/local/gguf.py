"""Read a GGUF file's header: enough to refuse a bad file before llama.cpp loads it.

llama.cpp's loader answers every bad file (missing, truncated, not GGUF) with the same
"Failed to init server", so hetflow reads the header itself: the magic, the metadata
keys (architecture, layer and head counts for the KV cache's size, the chat template)
and checks that the file is as long as its tensors say.

>>> import io, struct
>>> head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
>>> key = b"general.architecture"
>>> kv = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, 5) + b"llama"
>>> read_header(io.BytesIO(head + kv)).metadata
{'general.architecture': 'llama'}
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"GGUF"
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
# ggml types: (block size in elements, bytes per block); enough for common quantizations.
_TYPE_SIZE = {
    0: (1, 4),  # F32
    1: (1, 2),  # F16
    2: (32, 18),  # Q4_0
    3: (32, 20),  # Q4_1
    6: (32, 22),  # Q5_0
    7: (32, 24),  # Q5_1
    8: (32, 34),  # Q8_0
    10: (256, 84),  # Q2_K
    11: (256, 110),  # Q3_K
    12: (256, 144),  # Q4_K
    13: (256, 176),  # Q5_K
    14: (256, 210),  # Q6_K
    30: (1, 2),  # BF16
}


class NotGguf(ValueError):
    """The file is not a (whole) GGUF model."""


@dataclass
class Header:
    version: int
    metadata: dict[str, Any]
    tensor_bytes: int | None = None  # what the tensors need, when every type is known
    data_offset: int = 0
    skipped: list[str] = field(default_factory=list)

    def get(self, suffix: str) -> Any:
        """A metadata value by its key after the architecture (``block_count``)."""
        arch = self.metadata.get("general.architecture")
        return self.metadata.get(f"{arch}.{suffix}")

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    def kv_bytes_per_token(self) -> int:
        """The KV cache's bytes per token of context (f16 keys and values)."""
        layers = int(self.get("block_count") or 0)
        width = int(self.get("embedding_length") or 0)
        heads = int(self.get("attention.head_count") or 1)
        kv_heads = self.get("attention.head_count_kv") or heads
        if isinstance(kv_heads, list):
            kv_heads = max(kv_heads) if kv_heads else heads
        head_dim = width // max(heads, 1)
        return 2 * 2 * layers * int(kv_heads) * head_dim


def read(path: str | Path) -> Header:
    """The header of a GGUF file, checked against the file's length."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = read_header(f, with_tensors=True)
    if header.tensor_bytes is not None and header.data_offset + header.tensor_bytes > size:
        raise NotGguf(
            f"truncated: its tensors need {header.data_offset + header.tensor_bytes:,} bytes,"
            f" the file has {size:,}"
        )
    return header


def read_header(f: BinaryIO, *, with_tensors: bool = False) -> Header:
    if f.read(4) != MAGIC:
        raise NotGguf("not a GGUF file (no GGUF magic at its start)")
    try:
        (version,) = _unpack(f, "<I")
        if version == 1:
            tensors, count = _unpack(f, "<II")
        else:
            tensors, count = _unpack(f, "<QQ")
        if count > 100_000 or tensors > 1_000_000:
            raise NotGguf("not a GGUF file (absurd header counts)")
        metadata: dict[str, Any] = {}
        for _ in range(count):
            key = _string(f)
            (kind,) = _unpack(f, "<I")
            metadata[key] = _value(f, kind)
        header = Header(version, metadata)
        if with_tensors:
            total, known = 0, True
            for _ in range(tensors):
                _string(f)
                (dims,) = _unpack(f, "<I")
                shape = _unpack(f, "<" + "Q" * dims)
                kind, _offset = _unpack(f, "<IQ")
                elements = 1
                for d in shape:
                    elements *= d
                if kind in _TYPE_SIZE:
                    block, nbytes = _TYPE_SIZE[kind]
                    total += elements // block * nbytes
                else:
                    known = False
            align = int(metadata.get("general.alignment", 32) or 32)
            here = f.tell()
            header.data_offset = (here + align - 1) // align * align
            header.tensor_bytes = total if known else None
        return header
    except (struct.error, UnicodeDecodeError, MemoryError, OverflowError) as err:
        raise NotGguf(f"a damaged GGUF header ({type(err).__name__})") from None


def _unpack(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise NotGguf("truncated: the file ends inside its header")
    return struct.unpack(fmt, data)


def _string(f: BinaryIO) -> str:
    (n,) = _unpack(f, "<Q")
    if n > 1 << 26:
        raise NotGguf("a damaged GGUF header (a string longer than 64 MiB)")
    data = f.read(n)
    if len(data) != n:
        raise NotGguf("truncated: the file ends inside its header")
    return data.decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        return _unpack(f, _SCALARS[kind])[0]
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item, n = _unpack(f, "<IQ")
        if item in _SCALARS:
            fmt = _SCALARS[item]
            size = struct.calcsize(fmt) * n
            data = f.read(size)
            if len(data) != size:
                raise NotGguf("truncated: the file ends inside its header")
            if n > 64:  # a tokenizer's scores or types: not needed, only skipped
                return []
            return list(struct.unpack("<" + fmt[1:] * n, data))
        values = [_value(f, item) for _ in range(n)]
        return values if n <= 64 else []
    raise NotGguf(f"a damaged GGUF header (unknown value type {kind})")
