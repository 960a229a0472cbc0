"""What a fresh ``hetflow run`` spends its start on, against a local instant server.

    python bench/bench_startup.py [--repeats 3]

Prints, for a one-step workflow on a lean (OpenAI-compatible) offer and again on the
same offer forced through litellm (``client = "litellm"``):
  1. the phases of one process, medians of the repeats: the interpreter, importing the
     CLI, importing the compiler, compiling, importing the call path, the run;
  2. the imports of the first 500 ms in the order they finish (``python -X importtime``,
     top-level packages, with the running total), and whether litellm was imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKFLOW = """\
workflow hello {
  input question: text
  reason answer = prompt "Answer: {{ question }}" needs reasoning >= 2
  output answer
}
"""

CATALOG = """\
[catalog]
name = "startup"

[chips.fast-chip]
vendor = "local"

[models.sub]
reasoning = 3
context = 100000

[[offers]]
model = "sub"
chip = "fast-chip"
litellm = "openai/sub"
api_base = "{url}"
client = "{client}"
output_tps = 2000
prefill_tps = 50000
ttft_ms = 20
concurrency = 8
input_per_mtok = 0.1
output_per_mtok = 0.2
"""

# One process, timed phase by phase (what `hetflow run FILE.het` does, in its order).
PHASES = """\
import time, sys
t = [time.perf_counter()]
sys.path.insert(0, {root!r})
import hetflow.commands.main
t.append(time.perf_counter())
from hetflow.compiler import plan_for_run
t.append(time.perf_counter())
inputs = {{"question": "hi"}}
plan = plan_for_run({het!r}, catalog={catalog!r}, inputs=inputs)
t.append(time.perf_counter())
from hetflow.runtime import run_sync
from hetflow.runtime.orchestrate import _preload
from hetflow.runtime.keys import check_keys
_preload(plan, check_keys(plan), False)
t.append(time.perf_counter())
result = run_sync(plan, inputs, journal=False, cache=False)
assert result.ok, result.reason
t.append(time.perf_counter())
print(" ".join(f"{{b - a:.4f}}" for a, b in zip(t, t[1:])), "litellm" in sys.modules)
"""
NAMES = ["import the CLI", "import the compiler", "compile", "import the call path", "run"]


def interpreter_s(repeats: int) -> float:
    import time

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def phases(het: Path, catalog: Path, repeats: int) -> tuple[list[float], bool]:
    code = PHASES.format(root=str(ROOT), het=str(het), catalog=str(catalog))
    rows, used = [], False
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        rows.append([float(x) for x in out[:-1]])
        used = out[-1] == "True"
    return [statistics.median(col) for col in zip(*rows, strict=True)], used


def import_timeline(het: Path, catalog: Path, limit_ms: float = 500.0) -> list[tuple[float, str]]:
    """Top-level imports of ``hetflow run`` in the order they finish, with a running total."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hetflow.commands.main", "run", str(het),
         "--catalog", str(catalog), "--input", "question=hi", "--no-cache",
         "--journal", str(het.with_suffix(".sqlite"))],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    total, out = 0.0, []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith("  ") or not cumulative.strip().isdigit():
            continue  # nested: counted in its top-level import
        ms = int(cumulative) / 1000
        total += ms
        out.append((total, f"{name.strip()} ({ms:.0f} ms)"))
    first = [row for row in out if row[0] <= limit_ms]
    if len(first) < len(out):
        first.append(out[len(first)])  # the import that straddles the limit
    return first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.bench_vs_rlm import Server

    server = Server(0.0, [1000])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            het = Path(tmp) / "hello.het"
            het.write_text(WORKFLOW)
            base = interpreter_s(args.repeats)
            for client in ("openai", "litellm"):
                catalog = Path(tmp) / f"{client}.toml"
                catalog.write_text(CATALOG.replace("{url}", server.url).replace("{client}", client))
                times, used = phases(het, catalog, args.repeats)
                label = "lean path" if client == "openai" else "litellm"
                print(f"\n{label}: a fresh process, phase by phase (medians of {args.repeats}); "
                      f"litellm imported: {used}")  # fmt: skip
                print(f"  {'python starts (python -c pass)':34} {base * 1000:7.0f} ms")
                for name, s in zip(NAMES, times, strict=True):
                    print(f"  {name:34} {s * 1000:7.0f} ms")
                print(f"  {'total':34} {(base + sum(times)) * 1000:7.0f} ms")
                print("  the imports of the first 500 ms, in the order they finish "
                      "(python -X importtime; running total):")  # fmt: skip
                for at, name in import_timeline(het, catalog):
                    print(f"    {at:7.0f} ms  {name}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
