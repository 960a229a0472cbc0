"""Compile wall time of every example, and OOLONG's plan against its baseline.

Two timings per example: in-process (a warm ``hetflow.compile``; the median of 5) and
``hetflow compile`` as a fresh process (imports included: Python, pydantic, networkx,
scipy — never litellm).  Target: under 0.5 s.  Then ``examples/oolong.het`` (128k
tokens of context, depth 2) on the default catalog against its homogeneous baseline —
the published anchor for OOLONG-style recursion is about 7x cheaper and 5x faster than
all-GPT-5 — and where we stand.

    python bench/bench_compile.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hetflow.compiler import compile  # noqa: E402

TARGET_S = 0.5


def warm(path: Path) -> float:
    compile(path)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        compile(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cold(path: Path, pycache: str) -> float:
    """A fresh ``hetflow compile`` process, as an installed hetflow runs: with bytecode.

    pip writes ``.pyc`` files at install time; a source checkout run with
    PYTHONDONTWRITEBYTECODE=1 would recompile every module on every start instead, so
    the bytecode goes to a scratch ``PYTHONPYCACHEPREFIX``, written by a first run that
    is not timed.  The median of 3 timed runs.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "hetflow", "compile", str(path), "-o", f"{tmp}/p.json"]
        for i in range(4):
            t = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, cwd=ROOT, env=env)
            if proc.returncode:
                raise SystemExit(proc.stderr.decode())
            if i:
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    print(f"{'example':<22} {'nodes':>5} {'warm s':>8} {'cold s':>8}  target < {TARGET_S} s")
    pycache = tempfile.mkdtemp(prefix="hetflow-bench-pyc-")
    for path in sorted((ROOT / "examples").glob("*.het")):
        plan = compile(path)
        w, c = warm(path), cold(path, pycache)
        verdict = "ok" if w < TARGET_S else "SLOW"
        print(
            f"{path.stem:<22} {len(plan.nodes):>5} {w:>8.3f} {c:>8.3f}  warm {verdict}"
            f"{'' if c < TARGET_S else ', cold over (imports)'}"
        )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import scipy.optimize"], cwd=ROOT)
    print(
        f"(of the cold time, importing scipy.optimize alone: "
        f"{time.perf_counter() - t:.2f} s in a fresh process)"
    )

    plan = compile(ROOT / "examples" / "oolong.het")
    e, b = plan.estimate, plan.baseline
    print(f"\noolong.het (128k tokens, depth 2), default catalog, objective {plan.objective}:")
    for n in plan.nodes:
        a = n.assignment
        where = f"{a.model} @ {a.chip}" if a else "cpu"
        print(
            f"  {n.id:<14} {where:<30} calls {n.estimate.calls:>4g}  "
            f"${n.estimate.cost_usd:.4f}  {n.estimate.latency_s:6.2f} s"
        )
    print(f"  plan:     ${e.cost_usd:.4f}  {e.latency_s:6.2f} s")
    print(f"  baseline: ${b.cost_usd:.4f}  {b.latency_s:6.2f} s  (all on {b.model} @ {b.chip})")
    print(f"  {plan.comparison()}")
    print(
        f"  published anchor: ~7x cheaper, ~5x faster than all-GPT-5; here "
        f"{b.cheaper_x:.1f}x and {b.faster_x:.1f}x"
    )
    fast = compile(ROOT / "examples" / "oolong.het", objective="latency")
    print(
        f"  with objective latency: {fast.comparison()} "
        f"(${fast.estimate.cost_usd:.4f}, {fast.estimate.latency_s:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
