"""Front-end speed: parse, build, check (and the graph) of generated 1k-50k-step workflows.

Prints one row per size with each stage's CPU time (best of --repeat; CPU rather than
wall time because the machine is shared) and the time per step, so linear growth shows
as a flat per-step column.  Parse and build are one stage: a correct file is parsed by
the fast path, which builds the AST as it parses (a Lark tree is made only to word
syntax errors; `--lark` also times that tree for comparison); then the wall and CPU time of `hetflow --help` and
`hetflow check examples/*.het` as fresh processes (what a user or an editor waits for).

    python bench/bench_frontend.py [--sizes 1000,10000,50000] [--repeat 3] [--lark]

Measured on the shared 2-core dev machine (total CPU s, median of 3 runs of this script;
the machine is noisy, so compare runs made side by side):

    steps   parse+build   check   graph   total
    1,000      0.043      0.009   0.004   0.056
   10,000      0.406      0.139   0.060   0.605
   50,000      2.07       0.86    0.32    3.30
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hetflow.checks.checker import check_program  # noqa: E402
from hetflow.syntax.builder import build  # noqa: E402
from hetflow.syntax.parser import parse_tree  # noqa: E402


def workflow(steps: int) -> str:
    """A workflow of about ``steps`` steps mixing every kind, with realistic references."""
    out = [
        "schema Verdict {\n  risky: bool\n  why: text\n}\n",
        "workflow big {",
        "  input doc: text ~ 128k tokens",
        "  input question: text",
        "  objective cost",
        "  extract parts = split(doc, tokens=2000)",
    ]
    made, pending = 1, ["parts"]  # names no step uses yet: the next reason reads them
    i = 0
    while made < steps:
        i += 1
        if i % 10 == 0:
            out += [
                f"  map p{i} in parts {{",
                f'    extract h{i} = grep(p{i}, "(?i)risk|liab")',
                f'    reason v{i}: Verdict = prompt "{{{{ p{i} }}}} {{{{ h{i} }}}}" '
                "needs reasoning >= 2 with max_tokens=100",
                "  }",
                f'  reduce c{i} = count(v{i}, where="risky")',
            ]
            made += 3
            pending.append(f"c{i}")
        elif i % 7 == 0:
            out.append(f'  extract s{i} = grep(doc, "(?i)term{i}")')
            made += 1
            pending.append(f"s{i}")
        else:
            earlier = " ".join(f"{{{{ {n} }}}}" for n in pending)
            out.append(
                f'  reason r{i} = prompt """\n    Question: {{{{ question }}}}\n'
                f'    Earlier: {earlier}\n  """ needs reasoning >= 3'
            )
            made += 1
            pending = [f"r{i}"]
    out.append(f"  output {', '.join(pending)}")
    out.append("}")
    return "\n".join(out) + "\n"


def timed(fn, repeat: int):
    """The best CPU time of ``repeat`` runs (CPU, not wall: the machine is shared)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def graph_stage():
    try:
        from hetflow.plan.graph import build_graph
    except ImportError:
        return None
    return build_graph


def subprocess_time(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of a fresh process."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(
            args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lark", action="store_true", help="also time Lark's tree (error path)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    build_graph = graph_stage()
    build("workflow w {\n input x: text\n output x\n}\n")  # warm the parser cache

    head = (
        f"{'steps':>7} {'lines':>7} {'parse+build':>11} {'check':>8} {'graph':>8} "
        f"{'total':>8} {'us/step':>8} {'diags':>6}" + (f" {'lark tree':>10}" if args.lark else "")
    )
    print(head)
    print("-" * len(head))
    for n in sizes:
        text = workflow(n)
        reps = args.repeat if n <= 10_000 else 1
        t_build, (program, _) = timed(lambda text=text: build(text, "big.het"), reps)
        t_check, diags = timed(lambda program=program: check_program(program), reps)
        t_graph = float("nan")
        if build_graph is not None:
            t_graph, _ = timed(lambda program=program: build_graph(program.workflows[0]), reps)
        total = t_build + t_check + (0 if t_graph != t_graph else t_graph)
        line = (
            f"{n:>7} {text.count(chr(10)):>7} {t_build:>10.3f}s "
            f"{t_check:>7.3f}s {t_graph:>7.3f}s {total:>7.3f}s {total / n * 1e6:>8.1f} "
            f"{len(diags):>6}"
        )
        if args.lark:
            t_tree, _ = timed(lambda text=text: parse_tree(text, "big.het"), reps)
            line += f" {t_tree:>9.3f}s"
        print(line)

    python = sys.executable
    examples = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "examples").glob("*.het"))
    commands = [
        ("python -c pass", [python, "-c", "pass"]),
        ("hetflow --help", [python, "-m", "hetflow", "--help"]),
        (
            f"hetflow check examples/*.het ({len(examples)} files)",
            [python, "-m", "hetflow", "check", *examples],
        ),
    ]
    print()
    print(f"{'command (fresh process, median of 5)':<44} {'wall':>8} {'cpu':>8}")
    print("-" * 62)
    for label, cmd in commands:
        wall, cpu = subprocess_time(cmd, 5)
        print(f"{label:<44} {wall:>7.3f}s {cpu:>7.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
