"""What each name of a workflow is: its definition, its type where it is used, its users.

A name's *path* is the tuple of maps around its definition.  Seen from a use whose own
path shares only a prefix with it, a body name is wrapped in one ``list[...]`` per map
left behind, which is exactly the language's rule that after a map each body name is
the list of its values.  A map's item is visible only inside its own map.
"""

from __future__ import annotations

import graphlib

from hetflow.builtins.table import BUILTINS
from hetflow.errors import Diagnostic, SourcePosition, closest
from hetflow.syntax import ast
from hetflow.syntax.types import field_type, is_dynamic, is_list, item_type, literal_type

# Jinja's own globals: a template may call them, and they are not workflow names.
JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop"})


def twice(what: str, name: str, pos: SourcePosition, first: SourcePosition) -> Diagnostic:
    where = f"line {first.line}" if first.file == pos.file else str(first)
    return Diagnostic("error", f"{what} '{name}' is defined twice (first at {where})", pos)


class Scope:
    """Definitions, dependencies and types of one workflow's names."""

    def __init__(self, wf: ast.Workflow, schemas: dict[str, ast.Schema], out: list[Diagnostic]):
        self.wf = wf
        self.schemas = schemas
        self.out = out
        # name -> (node, kind, path); kind is "input", "step" or "item"
        self.defs: dict[str, tuple[ast.Input | ast.Step, str, tuple[int, ...]]] = {}
        self.deps: dict[str, dict[str, SourcePosition]] = {}
        self._maps: dict[int, int] = {}
        self._types: dict[str, ast.TypeRef | None] = {}
        self._busy: set[str] = set()
        for inp in wf.inputs:
            self.define(inp.name, inp, "input", (), inp.pos)
        for step, maps in ast.walk_steps(wf.steps):
            path = self.path(maps)
            if isinstance(step, ast.Map):
                self._maps[id(step)] = len(self._maps)
                new = self.define(step.item, step, "item", path + (self._maps[id(step)],), step.pos)
            else:
                new = self.define(step.name, step, "step", path, step.pos)
            if not new:
                continue  # a second definition: its uses would be mistaken for the first's
            uses = self.deps.setdefault(step.name, {})
            for ref in ast.read_refs(step):  # what ast.reads(step) holds, without new Refs
                uses.setdefault(ref.name, ref.pos)

    def define(self, name, node, kind, path, pos) -> bool:
        if name in self.defs:
            first = self.defs[name][0].pos
            self.out.append(twice("name", name, pos, first))
            return False
        self.defs[name] = (node, kind, path)
        return True

    def path(self, maps: tuple[ast.Map, ...]) -> tuple[int, ...]:
        if not maps:  # most steps are in no map
            return ()
        return tuple(self._maps[id(m)] for m in maps)

    # ---------------------------------------------------------------- types
    def view(self, name: str, where: tuple[int, ...]) -> tuple[ast.TypeRef | None, str | None]:
        """The type of ``name`` used at ``where``, or (None, why it is not visible)."""
        if name not in self.defs:
            return None, "undefined"
        node, kind, path = self.defs[name]
        if kind == "item":
            if where[: len(path)] != path:
                return None, "item"
            return self.inner_type(name), None
        common = 0
        while common < min(len(path), len(where)) and path[common] == where[common]:
            common += 1
        t = self.inner_type(name)
        for _ in range(len(path) - common):
            t = ast.list_of(t) if t is not None else None
        return t, None

    def outside_type(self, name: str) -> ast.TypeRef | None:
        node, kind, path = self.defs[name]
        if kind == "item":
            return self.inner_type(name)
        return self.view(name, ())[0]

    def inner_type(self, name: str) -> ast.TypeRef | None:
        """A name's type inside its own scope (per item in a map body)."""
        if name in self._types:
            return self._types[name]
        if name in self._busy:  # a cycle: reported elsewhere
            return None
        self._busy.add(name)
        try:
            t = self._infer(*self.defs[name])
        finally:
            self._busy.discard(name)
        self._types[name] = t
        return t

    def _infer(self, node, kind, path) -> ast.TypeRef | None:
        if kind == "input":
            return node.type
        if kind == "item":
            over, _ = self.view(node.over.name, path[:-1])
            return item_type(over)
        if isinstance(node, (ast.Extract, ast.Reduce)):
            builtin = BUILTINS.get(node.call.name)
            result = None
            if builtin is not None:
                args = [self.quiet_value(v, path) for v in node.call.args]
                kwargs = {k: self.quiet_value(v, path) for k, v in node.call.kwargs}
                result = builtin.check(node.call, args, kwargs, self.schemas)[0]
            return node.type or result
        if isinstance(node, ast.Zoom):
            return node.type or ast.IMAGE
        return node.type or ast.TEXT

    def quiet_value(self, value: ast.Value, where) -> ast.TypeRef | None:
        if isinstance(value, ast.Ref):
            return self.view(value.name, where)[0]
        return literal_type(value)

    # ---------------------------------------------------------------- uses
    def use(self, ref: ast.Ref | ast.TemplateRef, where: tuple[int, ...]) -> ast.TypeRef | None:
        """The type of a use of a name (a Ref, or a template's own ref); an undefined name
        is reported here."""
        t, problem = self.view(ref.name, where)
        if problem == "undefined":
            hint = closest(ref.name, self.visible(where))
            more = f"; did you mean '{hint}'?" if hint else ""
            self.error(f"name '{ref.name}' is not defined{more}", ref.pos)
        elif problem == "item":
            node = self.defs[ref.name][0]
            self.error(
                f"'{ref.name}' is the item of the map at line {node.pos.line}; it "
                "exists only inside that map's { }",
                ref.pos,
            )
        return t

    def value(self, value: ast.Value, where) -> ast.TypeRef | None:
        if isinstance(value, ast.Ref):
            return self.use(value, where)
        for ref in ast.value_refs(value):
            self.use(ref, where)
        return literal_type(value)

    def template(self, text: ast.Text, where) -> None:
        for r in text.refs:
            if r.name in JINJA_GLOBALS and r.name not in self.defs:
                continue
            t = self.use(r, where)
            if not r.attrs or is_dynamic(t):
                continue
            if is_list(t):
                self.error(
                    f"'{r.name}' is a list ({t}); a template cannot take its field "
                    f"'{r.attrs[0]}' (loop over it with {{% for x in {r.name} %}}, or "
                    f'use field({r.name}, "{r.attrs[0]}"))',
                    r.pos,
                )
                continue
            _, problem = field_type(t, r.attrs, self.schemas, root=f"'{r.name}'")
            if problem:
                self.error(problem, r.pos)

    def visible(self, where: tuple[int, ...]) -> list[str]:
        return [
            n
            for n, (_, kind, path) in self.defs.items()
            if kind != "item" or where[: len(path)] == path
        ]

    def error(self, message: str, pos: SourcePosition) -> None:
        self.out.append(Diagnostic("error", message, pos))

    # ---------------------------------------------------------------- the graph
    def edges(self) -> dict[str, set[str]]:
        """user -> the defined names it uses (the workflow's dependency graph)."""
        return {u: {n for n in used if n in self.defs} for u, used in self.deps.items()}

    def report_cycles(self) -> None:
        """One error per cycle, at the use that closes it, naming every step on it."""
        graph = self.edges()
        if self._backward(graph):
            return
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return
        except graphlib.CycleError:
            pass
        import networkx as nx  # only when there is a cycle: it is slow to import

        g = nx.DiGraph([(u, v) for u, vs in graph.items() for v in vs])
        order = {name: i for i, name in enumerate(self.defs)}
        for node in nx.nodes_with_selfloops(g):
            self.error(f"step '{node}' uses its own result", self.deps[node][node])
        g.remove_edges_from(list(nx.selfloop_edges(g)))
        for component in nx.strongly_connected_components(g):
            if len(component) == 1:
                continue
            first = min(component, key=lambda n: order.get(n, 0))
            sub = g.subgraph(component)
            back = min(
                (nx.shortest_path(sub, s, first) for s in sub.successors(first)),
                key=lambda p: (len(p), [order.get(n, 0) for n in p]),
            )
            cycle = [first] + back[:-1]
            said = ", ".join(
                f"'{a}' uses '{b}'" for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)
            )
            names = ", ".join(f"'{n}'" for n in cycle)
            self.error(
                f"a cycle: {said}; one of {names} must not depend on the others",
                self.deps[first][cycle[1]],
            )

    def _backward(self, graph: dict[str, set[str]]) -> bool:
        """Whether every use is of a name defined before its user: then there is no cycle.

        That is how nearly every workflow reads, and it is one look per edge, where
        graphlib's search for a cycle costs a tenth of a big workflow's check.
        """
        order = {name: i for i, name in enumerate(self.defs)}
        for user, used in graph.items():
            at = order.get(user)
            if at is None:
                return False
            for name in used:
                if order[name] >= at:
                    return False
        return True

    def needed_by(self, names) -> set[str]:
        """Every name the given names depend on, themselves included.

        A step inside a map also depends on the map's list, which says how many times it
        runs, even when it does not read the item.
        """
        graph = self.edges()
        items = {path[-1]: name for name, (_, kind, path) in self.defs.items() if kind == "item"}
        for name, (_, kind, path) in self.defs.items():
            for index in path if kind == "step" else path[:-1]:
                if index in items:
                    graph.setdefault(name, set()).add(items[index])
        seen: set[str] = set()
        todo = [n for n in names if n in self.defs]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(graph.get(n, ()))
        return seen
