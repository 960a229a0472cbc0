"""hetflow against the reference Recursive Language Models package (``rlms``), side by side.

    python bench/bench_vs_rlm.py [--sizes 32k,128k,512k] [--latencies 0,0.05] [--repeats 3]
                                 [--fresh 2] [--calls 2000] [--skip-fresh] [--skip-calls]

Both systems run the same OOLONG-style task (bench/oolong.py) against the same local
OpenAI-compatible server (a process of its own on 127.0.0.1, so its CPU is not the
client's), which plays a scripted root model and an oracle sub-model: the root writes one
REPL block that cuts the context into chunks of about 2k tokens (16 / 64 / 256 chunks at
32k / 128k / 512k), labels them with one batched sub-call (``llm_query_batched``, each
system's own), counts, and answers; each sub-call answers with the true labels of its
lines.  So both make 1 root call and the same sub-calls, and both must score 1.0.

- hetflow: ``hetflow run`` of a ``recurse`` step (journal on, as by default; cache off),
  the sub-model offer at concurrency 32, on the lean OpenAI path (``client = "openai"``).
- rlms 0.1.3 (openai SDK, threads): ``RLM.completion`` with its local REPL; its batched
  call runs at its default concurrency (``LMHandler.batch_max_concurrent`` = 16) and,
  patched, at hetflow's (32).  Which one is shown is said in each row.

Printed: warm (the same process, after one untimed run: wall and CPU, the REPL
subprocess included), fresh (a new process per run: ``hetflow run FILE.het`` against
``python -c 'import rlm; ...'``, whole process wall and CPU), the ratios, and the calls/s
one process sustains against instant replies: hetflow's lean path, hetflow through
litellm, and the bare openai client (``AsyncOpenAI.chat.completions.create``).
Needs the bench extra (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import oolong  # noqa: E402

HET_CONCURRENCY = 32
RLM_DEFAULT_CONCURRENCY = 16  # rlm.core.lm_handler.LMHandler(batch_max_concurrent=16)

WORKFLOW = """\
workflow vsrlm {
  input context: text
  input question: text
  objective latency

  recurse answer: text over context depth 1 {
    task "{{ question }}"
    root needs coding >= 4
    sub needs reasoning >= 2
  }
  output answer
}
"""

CATALOG = """\
[catalog]
name = "bench-vs-rlm"

[chips.big-gpu]
vendor = "local"

[chips.fast-chip]
vendor = "local"

[models.root]
reasoning = 5
coding = 5
extraction = 5
context = 1000000

[models.sub]
reasoning = 3
coding = 1
extraction = 4
context = 1000000

[[offers]]
model = "root"
chip = "big-gpu"
litellm = "openai/root"
api_base = "{url}"
client = "{client}"
output_tps = 200
prefill_tps = 10000
ttft_ms = 100
concurrency = 4
input_per_mtok = 1.0
output_per_mtok = 4.0

[[offers]]
model = "sub"
chip = "fast-chip"
litellm = "openai/sub"
api_base = "{url}"
client = "{client}"
output_tps = 2000
prefill_tps = 50000
ttft_ms = 20
concurrency = {concurrency}
input_per_mtok = 0.1
output_per_mtok = 0.2
"""

# The root's one turn, the same for both systems but its last line (how each answers).
ROOT_CODE = """\
lines = context.splitlines()
n = max(1, round(len(context) / 8000))
size = -(-len(lines) // n)
chunks = ["\\n".join(lines[i:i + size]) for i in range(0, len(lines), size)]
answers = llm_query_batched(["Label each record, one label a line.\\n" + c for c in chunks])
counts = {{}}
for a in answers:
    for label in a.splitlines():
        counts[label] = counts.get(label, 0) + 1
result = {final}
"""
ANSWER = {
    "het": "FINAL(result)",
    "rlm": 'answer["content"] = str(result)\nanswer["ready"] = True',
}


def _final(question: str) -> str:
    """The Python expression that answers an OOLONG question from ``counts``."""
    if m := re.search(r"labeled as '(\w+)'", question):
        return f"counts.get({m.group(1)!r}, 0)"
    if m := re.search(r"label '(\w+)' or label '(\w+)'", question):
        a, b = m.groups()
        return f"{a!r} if counts.get({a!r}, 0) > counts.get({b!r}, 0) else {b!r}"
    if "most common" in question:
        return "max(counts, key=counts.get)"
    return "min(counts, key=counts.get)"


# --------------------------------------------------------------------------- the server
def _text(messages: list[dict]) -> str:
    out = []
    for m in messages:
        c = m.get("content")
        out.append(c if isinstance(c, str) else json.dumps(c))
    return "\n".join(out)


def _reply(body: dict, labels: dict[str, str]) -> str:
    model = str(body.get("model", ""))
    messages = body.get("messages") or []
    if model.startswith("root"):
        text = _text(messages)
        system = "het" if model == "root" else "rlm"
        q = next(
            (
                q
                for q in re.findall(
                    r"(How many.*?number\.|Which.*?(?:label|one of: [^.]*)\.)", text
                )
            ),
            "",
        )
        code = ROOT_CODE.format(final=_final(q)) + ANSWER[system]
        return f"```repl\n{code}\n```"
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    out = []
    for line in str(last).splitlines():
        _, sep, instance = line.partition(" || Instance: ")
        if sep:
            out.append(labels.get(instance, "unknown"))
    return "\n".join(out) or "ok"


async def _serve(latency: float, sizes: list[int]) -> None:
    labels: dict[str, str] = {}
    for size in sizes:
        labels.update(oolong.generate(size, seed=1)._labels_by_instance)
    stats = {"requests": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length) or b"{}")
                if latency:
                    await asyncio.sleep(latency)
                stats["requests"] += 1
                if head.startswith(b"POST"):
                    text = _reply(body, labels)
                    payload = {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": max(1, len(_text(body.get("messages") or [])) // 4),
                            "completion_tokens": max(1, len(text) // 4),
                            "total_tokens": 0,
                        },
                    }
                else:
                    payload = stats
                data = json.dumps(payload).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=2048)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    async with server:
        await server.serve_forever()


class Server:
    """The scripted server in a process of its own."""

    def __init__(self, latency: float, sizes: list[int]):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(latency),
             "--sizes", ",".join(str(s) for s in sizes)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# --------------------------------------------------------------------------- the systems
def cpu_now() -> float:
    """CPU seconds of this process and its waited-for children (the REPL subprocess)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def write_files(folder: Path, url: str, client: str = "openai") -> tuple[Path, Path]:
    het = folder / "vsrlm.het"
    het.write_text(WORKFLOW)
    catalog = folder / f"catalog-{client}.toml"
    catalog.write_text(
        CATALOG.replace("{url}", url)
        .replace("{client}", client)
        .replace("{concurrency}", str(HET_CONCURRENCY))
    )
    return het, catalog


class Hetflow:
    def __init__(self, folder: Path, url: str):
        import hetflow

        self.hetflow = hetflow
        self.het, self.catalog = write_files(folder, url)
        self.journal = folder / "journal.sqlite"
        self.plans: dict[int, object] = {}

    async def run(self, task: oolong.OolongTask) -> object:
        key = len(task.context)
        inputs = {"context": task.context, "question": task.question}
        if key not in self.plans:
            from hetflow.compiler import plan_for_run

            self.plans[key] = plan_for_run(str(self.het), catalog=str(self.catalog), inputs=inputs)
        result = await self.hetflow.run(self.plans[key], inputs, journal=self.journal, cache=False)
        assert result.ok, result.reason
        return result.outputs["answer"]


def rlm_concurrency(n: int) -> None:
    """Run rlms's batched call at ``n`` requests at once (its default is 16)."""
    from rlm.core import lm_handler

    init = lm_handler.LMHandler.__init__
    if not hasattr(init, "__wrapped_batch__"):

        def patched(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.batch_max_concurrent = patched.__wrapped_batch__

        patched.__wrapped_batch__ = n
        lm_handler.LMHandler.__init__ = patched
    else:
        init.__wrapped_batch__ = n


def rlm_run(url: str, task: oolong.OolongTask) -> object:
    from rlm import RLM

    rlm = RLM(
        backend="openai",
        backend_kwargs={"model_name": "root-rlm", "base_url": url, "api_key": "x"},
        other_backends=["openai"],
        other_backend_kwargs=[{"model_name": "sub", "base_url": url, "api_key": "x"}],
        environment="local",
        max_depth=1,
        max_iterations=4,
    )
    return rlm.completion(task.context, root_prompt=task.question).response


def timed(fn, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), cpu_now()
    out = fn(*args)
    return time.perf_counter() - wall, cpu_now() - cpu, out


# --------------------------------------------------------------------------- fresh process
RLM_SCRIPT = """\
import sys
sys.path.insert(0, {root!r})
from bench.bench_vs_rlm import rlm_concurrency, rlm_run
from bench import oolong
task = oolong.generate({size}, seed=1)
{patch}
print(rlm_run({url!r}, task))
"""


def fresh(cmd: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    # the children's usage grows by this process's (and its own children's) once waited
    return wall, 0.0, out.strip() if proc.returncode == 0 else f"FAILED: {err[-300:]}"


def fresh_timed(cmd: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _, out = fresh(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out


# --------------------------------------------------------------------------- calls/s
async def calls_per_second(url: str, calls: int, concurrency: int, folder: Path) -> dict:
    """One process against instant replies: hetflow lean, hetflow litellm, bare openai."""
    import openai

    from hetflow.plan.model import Assignment

    sys.path.insert(0, str(ROOT))
    from bench.bench_runtime import map_plan
    from hetflow.runtime import run

    out: dict[str, tuple[float, float]] = {}  # name -> (calls/s, client CPU s per call)
    text = "\n".join(f"line {i}" for i in range(calls))
    for client in ("openai", "litellm"):
        offer = Assignment(
            model="sub", chip="fast-chip", litellm="openai/sub", offer="sub@fast-chip",
            api_base=url, client=client, concurrency=concurrency,
            input_per_mtok=0.1, output_per_mtok=0.2,
        )  # fmt: skip
        plan = map_plan(calls, offer)
        best, cpu = float("inf"), float("inf")
        for _ in range(3):
            start, c0 = time.perf_counter(), time.process_time()
            result = await run(plan, {"x": text}, journal=False, cache=False)
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - c0)
            assert result.ok, result.reason
        name = f"hetflow ({'lean path' if client == 'openai' else 'litellm'})"
        out[name] = (calls / best, cpu / calls)

    bare = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with sem:
            r = await bare.chat.completions.create(
                model="sub", messages=[{"role": "user", "content": f"line {i}"}]
            )
            return r.choices[0].message.content or ""

    best, cpu = float("inf"), float("inf")
    for _ in range(3):
        start, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(calls)))
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - c0)
    await bare.close()
    out["bare openai client"] = (calls / best, cpu / calls)
    return out


# --------------------------------------------------------------------------- main
def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)


def med(xs: list[float]) -> float:
    return statistics.median(xs)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32k,128k,512k")
    ap.add_argument("--latencies", default="0,0.05")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fresh", type=int, default=2)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--skip-fresh", action="store_true")
    ap.add_argument("--skip-calls", action="store_true")
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    tasks = {size: oolong.generate(size, seed=1) for size in sizes}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for latency in [float(x) for x in args.latencies.split(",")]:
            server = Server(latency, sizes)
            try:
                het = Hetflow(folder, server.url)
                for size in sizes:
                    task = tasks[size]
                    chunks = max(1, round(len(task.context) / 8000))
                    row = {"size": size, "latency": latency, "chunks": chunks}
                    # warm: one untimed run each, then the medians of the repeats
                    await het.run(task)
                    got = [await _timed_async(het.run, task) for _ in range(args.repeats)]
                    row["het"] = (med([g[0] for g in got]), med([g[1] for g in got]))
                    row["het_score"] = min(oolong.score(g[2], task.answer) for g in got)
                    for conc in (RLM_DEFAULT_CONCURRENCY, HET_CONCURRENCY):
                        rlm_concurrency(conc)
                        rlm_run(server.url, task)
                        got = [timed(rlm_run, server.url, task) for _ in range(args.repeats)]
                        row[f"rlm{conc}"] = (med([g[0] for g in got]), med([g[1] for g in got]))
                        row[f"rlm{conc}_score"] = min(oolong.score(g[2], task.answer) for g in got)
                    if not args.skip_fresh:
                        ctx = folder / f"context-{size}.txt"
                        ctx.write_text(task.context)
                        het_cmd = [
                            sys.executable, "-m", "hetflow.commands.main", "run", str(het.het),
                            "--catalog", str(het.catalog), "--input", f"context=@{ctx}",
                            "--input", f"question={task.question}", "--no-cache",
                            "--journal", str(folder / "fresh.sqlite"),
                        ]  # fmt: skip
                        best_rlm = min(
                            (RLM_DEFAULT_CONCURRENCY, HET_CONCURRENCY),
                            key=lambda c: row[f"rlm{c}"][0],
                        )
                        patch = f"rlm_concurrency({best_rlm})"
                        rlm_cmd = [
                            sys.executable, "-c",
                            RLM_SCRIPT.format(root=str(ROOT), size=size, url=server.url, patch=patch),
                        ]  # fmt: skip
                        fh = [fresh_timed(het_cmd) for _ in range(args.fresh)]
                        fr = [fresh_timed(rlm_cmd) for _ in range(args.fresh)]
                        row["fresh_het"] = (med([f[0] for f in fh]), med([f[1] for f in fh]))
                        row["fresh_rlm"] = (med([f[0] for f in fr]), med([f[1] for f in fr]))
                        row["fresh_rlm_conc"] = best_rlm
                        row["fresh_ok"] = all(
                            oolong.score(_answer_of(f[2]), task.answer) == 1.0 for f in fh + fr
                        )
                    rows.append(row)
                    print_row(row, flush=True)
                if not args.skip_calls and latency == 0:
                    cps = await calls_per_second(server.url, args.calls, HET_CONCURRENCY, folder)
                    print(f"\ncalls/s, one process, {args.calls} instant calls at concurrency "
                          f"{HET_CONCURRENCY} (best of 3; the client's CPU per call, and the "
                          "calls/s that CPU allows on one core):")  # fmt: skip
                    for name, (rate, per) in cps.items():
                        print(f"  {name:28} {rate:8,.0f}/s wall   {per * 1e6:7.0f} us CPU a call"
                              f" = {1 / per:8,.0f}/s a core")  # fmt: skip
                    lean, lit = cps["hetflow (lean path)"][1], cps["hetflow (litellm)"][1]
                    bare = cps["bare openai client"][1]
                    print(f"  by CPU a call: lean is {lit / lean:.1f}x litellm's calls/s (goal"
                          f" >= 3x); bare openai {lean / bare:.2f}x lean's (goal <= 1.3x)\n")  # fmt: skip
            finally:
                server.close()
    print_summary(rows)


def _answer_of(stdout: str) -> object:
    """``hetflow run`` prints its outputs as JSON; rlms's script prints the answer."""
    try:
        return json.loads(stdout)["answer"]
    except (ValueError, TypeError, KeyError):
        return stdout


async def _timed_async(fn, *args) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), cpu_now()
    out = await fn(*args)
    return time.perf_counter() - wall, cpu_now() - cpu, out


def print_row(row: dict, flush: bool = True) -> None:
    size, lat = row["size"], row["latency"]
    hw, hc = row["het"]
    line = (
        f"{size // 1000:>4}k {lat * 1000:>3.0f}ms {row['chunks']:>4} chunks | warm hetflow "
        f"{hw:6.3f}s cpu {hc:6.3f}s (score {row['het_score']:.2f})"
    )
    for conc in (RLM_DEFAULT_CONCURRENCY, HET_CONCURRENCY):
        rw, rc = row[f"rlm{conc}"]
        line += f" | rlms@{conc} {rw:6.3f}s cpu {rc:6.3f}s (score {row[f'rlm{conc}_score']:.2f})"
    print(line, flush=flush)
    if "fresh_het" in row:
        fw, fc = row["fresh_het"]
        rw, rc = row["fresh_rlm"]
        print(
            f"{'':21}| fresh process: hetflow run {fw:6.2f}s cpu {fc:5.2f}s | rlms@"
            f"{row['fresh_rlm_conc']} {rw:6.2f}s cpu {rc:5.2f}s | all correct: {row['fresh_ok']}",
            flush=flush,
        )


def print_summary(rows: list[dict]) -> None:
    print("\nratios hetflow / rlms (< 1: hetflow ahead); rlms at its best of @16 (its default) "
          "and @32 (hetflow's concurrency), per row")  # fmt: skip
    print(f"{'case':>14} {'best rlms':>9} {'warm wall':>10} {'warm CPU':>9} {'fresh wall':>11} "
          f"{'fresh CPU':>10}")  # fmt: skip
    for row in rows:
        best = min((RLM_DEFAULT_CONCURRENCY, HET_CONCURRENCY), key=lambda c: row[f"rlm{c}"][0])
        rw, rc = row[f"rlm{best}"]
        hw, hc = row["het"]
        fresh_w = fresh_c = "-"
        if "fresh_het" in row:
            fresh_w = f"{row['fresh_het'][0] / row['fresh_rlm'][0]:.2f}"
            fresh_c = f"{row['fresh_het'][1] / max(row['fresh_rlm'][1], 1e-9):.2f}"
        case = f"{row['size'] // 1000}k {row['latency'] * 1000:.0f}ms"
        print(f"{case:>14} {'@' + str(best):>9} {hw / rw:10.2f} {hc / max(rc, 1e-9):9.2f} "
              f"{fresh_w:>11} {fresh_c:>10}")  # fmt: skip
    print("goals: warm wall <= 1.00, warm CPU <= 1.2, fresh wall <= 1.5")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--serve", action="store_true")
        ap.add_argument("--latency", type=float, default=0.0)
        ap.add_argument("--sizes", default="32000")
        a = ap.parse_args()
        try:
            asyncio.run(_serve(a.latency, [int(s) for s in a.sizes.split(",")]))
        except KeyboardInterrupt:
            pass
    else:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        asyncio.run(main())
