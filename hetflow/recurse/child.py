"""The sandbox child: a confined Python REPL that talks to hetflow over a pipe.

Run as ``python -I -S -B child.py`` by :class:`hetflow.recurse.sandbox.Sandbox`, never
imported by hetflow itself.  It reads one JSON object per line on its standard input
and writes one per line to its (private copy of) standard output:

parent -> child   {"op": "init", "context": ..., "scratch": ..., "limits": {...}}
                  {"op": "cell", "code": "..."}
                  {"op": "reply", "results": [str, ...]} | {"op": "reply", "error": "..."}
child -> parent   {"op": "ready", "isolation": {...}}
                  {"op": "call", "calls": [{"kind": "llm"|"rlm", "prompt": ..., "context": ...}]}
                  {"op": "done", "output": ..., "error": ..., "final": bool, "final_value": ...}

The sub-call functions are the only way out: everything else the model's code might
try meets the confinement applied before the first cell runs (see confine.py).
"""

import ast
import builtins
import importlib.util
import json
import linecache
import os
import signal
import sys
import traceback


class _FinalSignal(BaseException):
    """Raised by FINAL to stop the cell; a BaseException so `except Exception` misses it."""


class CpuLimitExceeded(BaseException):
    """The cell used up its CPU seconds (RLIMIT_CPU's soft limit, SIGXCPU)."""


class SubCallError(RuntimeError):
    """The parent could not answer a sub-call (budget spent, provider failed, ...)."""


class _Capture:
    """A stdout that keeps the head and the tail of what is printed, within a limit."""

    def __init__(self, limit: int):
        self.tail_limit = min(2000, limit // 5)
        self.head_limit = limit - self.tail_limit
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.dropped = 0

    def write(self, s) -> int:
        s = str(s)
        room = self.head_limit - self.head_len
        if room > 0:
            self.head.append(s[:room])
            self.head_len += min(room, len(s))
            s = s[room:]
        if s:
            self.tail += s
            if len(self.tail) > self.tail_limit:
                self.dropped += len(self.tail) - self.tail_limit
                self.tail = self.tail[-self.tail_limit :]
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        head = "".join(self.head)
        if not self.dropped:
            return head + self.tail
        return (
            f"{head}\n... [output truncated: {self.dropped:,} characters left out] ...\n{self.tail}"
        )


def _jsonable(value):
    """Make a FINAL value JSON-able: sets and tuples become lists, the rest their str."""
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class Repl:
    def __init__(self, context, out_fd: int, in_file, output_chars: int):
        self.out_fd = out_fd
        self.in_file = in_file
        self.output_chars = output_chars
        self.cell_no = 0
        self.final = False
        self.final_value = None
        self.ns = {
            "__name__": "__repl__",
            "__builtins__": builtins,
            "context": context,
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
            "FINAL": self.FINAL,
            "FINAL_VAR": self.FINAL_VAR,
        }

    # -- protocol -----------------------------------------------------------------

    def send(self, msg: dict) -> None:
        data = (json.dumps(msg, default=_jsonable) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.out_fd, view) :]

    def receive(self) -> dict:
        line = self.in_file.readline()
        if not line:
            os._exit(0)  # the parent is gone
        return json.loads(line)

    def _calls(self, calls: list) -> list:
        self.send({"op": "call", "calls": calls})
        reply = self.receive()
        if reply.get("error"):
            raise SubCallError(reply["error"])
        return reply["results"]

    # -- the REPL surface (a contract: see DESIGN.md, "recurse") --------------------

    def llm_query(self, prompt: str) -> str:
        """Ask a sub-model one question; returns its answer as text."""
        return self._calls([{"kind": "llm", "prompt": _text(prompt, "llm_query")}])[0]

    def llm_query_batched(self, prompts: list) -> list:
        """Ask many questions at once; they run concurrently; answers in order."""
        if isinstance(prompts, str) or not hasattr(prompts, "__iter__"):
            raise TypeError("llm_query_batched expects a list of str prompts")
        calls = [{"kind": "llm", "prompt": _text(p, "llm_query_batched")} for p in prompts]
        return self._calls(calls) if calls else []

    def rlm_query(self, prompt: str, sub_context=None) -> str:
        """Hand a sub-context to a recursive model (its own REPL); returns its answer."""
        return self._calls(
            [{"kind": "rlm", "prompt": _text(prompt, "rlm_query"), "context": sub_context}]
        )[0]

    def rlm_query_batched(self, prompts: list, sub_contexts: list) -> list:
        """rlm_query over pairs (prompt, sub_context), run concurrently."""
        calls = [
            {"kind": "rlm", "prompt": _text(p, "rlm_query_batched"), "context": c}
            for p, c in zip(prompts, sub_contexts, strict=True)
        ]
        return self._calls(calls) if calls else []

    def FINAL(self, value):
        """End the recursion with this answer."""
        self.final, self.final_value = True, value
        raise _FinalSignal()

    def FINAL_VAR(self, name: str):
        """End the recursion with the value of the REPL variable called `name`."""
        if name not in self.ns:
            known = sorted(k for k in self.ns if not k.startswith("_"))
            raise NameError(f"FINAL_VAR: no variable {name!r}; variables: {', '.join(known)}")
        return self.FINAL(self.ns[name])

    # -- cells ---------------------------------------------------------------------

    def run_cell(self, code: str) -> dict:
        self.cell_no += 1
        filename = f"<cell {self.cell_no}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        capture = _Capture(self.output_chars)
        sys.stdout = sys.stderr = capture
        self.final, self.final_value, error = False, None, None
        try:
            tree = ast.parse(code, filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body[-1].value)
                tree.body.pop()
            exec(compile(tree, filename, "exec"), self.ns)
            if last is not None:  # like a REPL: show the last expression's value
                value = eval(compile(last, filename, "eval"), self.ns)
                if value is not None:
                    print(repr(value))
        except _FinalSignal:
            pass
        except CpuLimitExceeded:
            error = "CpuLimitExceeded: the cell used up its CPU time limit"
        except KeyboardInterrupt:
            error = "Interrupted: the cell ran past its wall-clock limit"
        except BaseException as e:  # the model's bug, reported to the model
            error = _short_traceback(e)
        finally:
            sys.stdout = sys.stderr = sys.__stderr__
        if self.final:
            try:
                json.dumps(self.final_value, default=_jsonable)
            except (TypeError, ValueError) as e:
                self.final, error = False, f"FINAL: the value cannot be sent back ({e})"
        return {
            "op": "done",
            "output": capture.text(),
            "error": error,
            "final": self.final,
            "final_value": self.final_value if self.final else None,
        }


def _text(prompt, where: str) -> str:
    if not isinstance(prompt, str):
        raise TypeError(f"{where} expects str prompts, got {type(prompt).__name__}")
    return prompt


def _short_traceback(e: BaseException, limit: int = 3000) -> str:
    """The model's frames only: hetflow's own frames say nothing useful to it."""
    tb = e.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(e), e, tb)).strip()
    if len(text) > limit:
        text = text[: limit // 2] + "\n...\n" + text[-limit // 2 :]
    return text


def _on_sigxcpu(signum, frame):
    raise CpuLimitExceeded()


def main() -> None:
    # Keep the protocol on private descriptors; fd 0 and 1 become harmless.
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    in_file = os.fdopen(in_fd, "r", encoding="utf-8", newline="\n")
    init = json.loads(in_file.readline())
    limits = init["limits"]
    os.chdir(init["scratch"])

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("_hetflow_confine", f"{here}/confine.py")
    assert spec is not None and spec.loader is not None  # the file sits beside this one
    confine_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(confine_mod)
    signal.signal(signal.SIGXCPU, _on_sigxcpu)
    isolation = confine_mod.confine(
        scratch=init["scratch"],
        cpu_seconds=limits["cpu_seconds"],
        cpu_seconds_total=limits["cpu_seconds_total"],
        memory_mb=limits["memory_mb"],
        max_file_bytes=limits["max_file_bytes"],
        seccomp_module=init.get("seccomp_module"),
        disabled=tuple(init.get("simulate", {}).get("disabled", ())),
        landlock_abi_max=init.get("simulate", {}).get("landlock_abi_max"),
    )
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.path[:] = [p for p in sys.path if p]  # no script directory
    repl = Repl(init["context"], out_fd, in_file, limits["output_chars"])
    del init
    repl.send({"op": "ready", "isolation": isolation, "pid": confine_mod.host_pid})
    while True:
        msg = repl.receive()
        if msg.get("op") == "cell":
            repl.send(repl.run_cell(msg["code"]))
        elif msg.get("op") == "exit":
            os._exit(0)


if __name__ == "__main__":
    main()
