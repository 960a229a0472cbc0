"""`hetflow lsp`: the Language Server Protocol over stdio, with pygls.

Diagnostics are those of ``hetflow check`` (same messages, same positions), published
on open, on save and, debounced, as the text changes.  Hover, go to definition,
completion and the outline come from :mod:`hetflow.lsp.analysis`; the placement a
hover shows comes from :mod:`hetflow.lsp.placement`, compiled in a worker process.

The workspace's catalog is the ``catalog`` initialization option (or the
``hetflow.catalog`` setting) when given, else ``catalog.toml`` at the workspace's root
when there is one, else the catalog shipped with hetflow.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from hetflow import __version__
from hetflow.builtins.table import BUILTINS
from hetflow.errors import HetError
from hetflow.lsp import analysis as an
from hetflow.lsp.placement import Placements
from hetflow.syntax.ast import PRIMITIVE_TYPES, Input
from hetflow.syntax.fmt import format_source
from hetflow.syntax.types import field_type

DEBOUNCE_S = 0.25  # after the last keystroke, before checking
COMPILE_DEBOUNCE_S = 0.6  # before compiling for hover

_SEVERITY = {
    "error": lsp.DiagnosticSeverity.Error,
    "warning": lsp.DiagnosticSeverity.Warning,
    "note": lsp.DiagnosticSeverity.Information,
}
_ITEM_KIND = {
    "variable": lsp.CompletionItemKind.Variable,
    "function": lsp.CompletionItemKind.Function,
    "keyword": lsp.CompletionItemKind.Keyword,
    "snippet": lsp.CompletionItemKind.Snippet,
    "class": lsp.CompletionItemKind.Class,
    "field": lsp.CompletionItemKind.Field,
    "enum": lsp.CompletionItemKind.EnumMember,
    "property": lsp.CompletionItemKind.Property,
}
_SYMBOL_KIND = {
    "workflow": lsp.SymbolKind.Function,
    "schema": lsp.SymbolKind.Struct,
    "field": lsp.SymbolKind.Field,
    "input": lsp.SymbolKind.Variable,
    "step": lsp.SymbolKind.Variable,
    "map": lsp.SymbolKind.Array,
}


class HetServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("hetflow", __version__)
        self.analyses: dict[str, tuple[int, str, an.Analysis]] = {}  # uri -> (version, text, a)
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.tasks: set[asyncio.Task] = set()
        self.placements = Placements()
        self.catalog_option: str | None = None

    # ------------------------------------------------------------ state
    def catalog(self) -> str | None:
        if self.catalog_option:
            return self.catalog_option
        root = self.workspace.root_path
        if root and (Path(root) / "catalog.toml").is_file():
            return str(Path(root) / "catalog.toml")
        return None

    def analysis(self, uri: str) -> an.Analysis:
        """The analysis of a document's current text (made now if it is stale)."""
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        got = self.analyses.get(uri)
        if got is not None and got[1] == text:
            return got[2]
        a = an.analyze(text, _path(uri))
        self.analyses[uri] = (doc.version or 0, text, a)
        return a

    async def refresh(self, uri: str) -> None:
        """Check the document and publish its diagnostics; compile it for hover if clean.

        The check runs in a thread (a 1,000-step file takes about half a second), so
        requests go on being answered meanwhile.
        """
        self.timers.pop(uri, None)
        doc = self.workspace.get_text_document(uri)
        text = doc.source
        got = self.analyses.get(uri)
        if got is not None and got[1] == text:
            a = got[2]
        else:
            a = await asyncio.to_thread(an.analyze, text, _path(uri))
            self.analyses[uri] = (doc.version or 0, text, a)
        if doc.source != text:
            return  # changed meanwhile: the next refresh publishes
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri, version=doc.version, diagnostics=self.to_lsp(a, doc)
            )
        )
        if not a.has_errors and a.workflows:
            self.placements.request(uri, a.text, a.file, self.catalog())

    def schedule(self, uri: str, delay: float) -> None:
        old = self.timers.pop(uri, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()

        def start() -> None:
            task = loop.create_task(self.refresh(uri))
            self.tasks.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(self.tasks.discard)

        self.timers[uri] = loop.call_later(delay, start)

    def to_lsp(self, a: an.Analysis, doc) -> list[lsp.Diagnostic]:
        out = []
        uses = {str((Path(a.file).resolve().parent / u.path).resolve()): u for u in _uses(a)}
        for d in a.diagnostics:
            message = d.message + "".join(f"\nnote: {n}" for n in d.notes)
            if d.pos.file == a.file:
                span = an.span_of(d.pos)
            else:  # in a used file: said at the `use` line that brings it in
                use = uses.get(str(Path(d.pos.file).resolve()))
                span = an.span_of(use.pos) if use else (0, 0, 0, 0)
                message = f"{d.pos}: {message}"
            out.append(
                lsp.Diagnostic(
                    range=self.range(doc, span),
                    message=message,
                    severity=_SEVERITY.get(d.severity, lsp.DiagnosticSeverity.Error),
                    source="hetflow",
                )
            )
        return out

    @staticmethod
    def range(doc, span: an.Span) -> lsp.Range:
        r = lsp.Range(lsp.Position(span[0], span[1]), lsp.Position(span[2], span[3]))
        return doc.position_codec.range_to_client_units(doc.lines, r)

    @staticmethod
    def position(doc, pos: lsp.Position) -> tuple[int, int]:
        p = doc.position_codec.position_from_client_units(doc.lines, pos)
        return p.line, p.character


def _path(uri: str) -> str:
    return to_fs_path(uri) or uri


def _uses(a: an.Analysis):
    return a.program.uses if a.program is not None else ()


server = HetServer()


@server.feature(lsp.INITIALIZE)
def initialize(ls: HetServer, params: lsp.InitializeParams) -> None:
    opts = params.initialization_options
    if isinstance(opts, dict) and opts.get("catalog"):
        ls.catalog_option = os.path.expanduser(str(opts["catalog"]))


@server.feature(lsp.INITIALIZED)
def initialized(ls: HetServer, params: lsp.InitializedParams) -> None:
    ls.placements.warm()


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: HetServer, params: lsp.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict):
        het = settings.get("hetflow", settings)
        if isinstance(het, dict) and het.get("catalog"):
            ls.catalog_option = os.path.expanduser(str(het["catalog"]))


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: HetServer, params: lsp.DidOpenTextDocumentParams) -> None:
    await ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: HetServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_S)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: HetServer, params: lsp.DidSaveTextDocumentParams) -> None:
    await ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: HetServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    timer = ls.timers.pop(uri, None)
    if timer is not None:
        timer.cancel()
    ls.analyses.pop(uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(lsp.SHUTDOWN)
def shutdown(ls: HetServer, params: Any) -> None:
    ls.placements.close()


# ---------------------------------------------------------------- hover


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: HetServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    a = ls.analysis(uri)
    line, char = ls.position(doc, params.position)
    e = a.at(line, char, ("ref", "def", "type", "builtin", "schema", "field", "use", "workflow"))
    if e is None:
        e = a.at(line, char, ("step",))
    if e is None:
        return None
    text = _hover_text(ls, uri, a, e)
    if not text:
        return None
    return lsp.Hover(
        contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
        range=ls.range(doc, e.span),
    )


def _hover_text(ls: HetServer, uri: str, a: an.Analysis, e: an.Entry) -> str:
    info = a.workflows.get(e.workflow.name) if e.workflow is not None else None
    if e.kind == "ref" and info is not None:
        if e.name not in info.scope.defs:
            return f"`{e.name}`: not defined here"
        text = an.describe_definition(info, e.name, e.where)
        attrs = getattr(e.node, "attrs", ())
        if attrs:  # {{ name.a.b }}: the field's type too
            t, problem = field_type(
                an.name_type(info, e.name, e.where), tuple(attrs), info.scope.schemas
            )
            path = ".".join((e.name, *attrs))
            text = (f"`{path}: {t}`" if t is not None else f"`{path}`: {problem}") + "  \n" + text
        return text
    if e.kind in ("def", "step") and info is not None:
        if isinstance(e.node, Input):
            return an.describe_definition(info, e.name, ())
        lines = an.step_lines(info, e.node, e.where)
        if e.node.op != "map":
            lines.extend(_placement_lines(ls, uri, a, info, e.node.name))
        return "  \n".join(lines)
    if e.kind == "type":
        schema = a.program.schema(e.name) if a.program else None
        if schema is None:
            return f"`{e.name}`: a built-in type" if e.name in PRIMITIVE_TYPES else ""
        return _schema_text(schema)
    if e.kind == "schema":
        return _schema_text(e.node)
    if e.kind == "field":
        schema, f = e.node
        return f"`{f.name}: {f.type}{'?' * f.optional}` — field of schema `{schema.name}`"
    if e.kind == "builtin":
        b = BUILTINS.get(e.name)
        return f"`{b.summary}` — {b.kind} builtin" if b else f"`{e.name}`: unknown builtin"
    if e.kind == "use":
        return f"brings in the schemas and workflows of `{e.name}`"
    if e.kind == "workflow":
        wf = e.node
        objective = wf.objective.value if wf.objective else "balanced"
        ins = ", ".join(f"`{i.name}: {i.type}`" for i in wf.inputs)
        head = f"**workflow** `{wf.name}` — objective {objective}  \ninputs: {ins}  \n"
        head += f"output: {', '.join(wf.output_names) or '(none)'}"
        if info is not None:
            plan, current, _ = ls.placements.plan(uri, a.text, ls.catalog(), wf.name)
            if plan:
                est = plan.get("estimate", {})
                base = plan.get("baseline", {})
                head += (
                    f"  \n---\nestimated **${est.get('cost_usd', 0):.4f}**, "
                    f"**{est.get('latency_s', 0):.2f} s**"
                )
                if base.get("cheaper_x"):
                    head += (
                        f" — {base['cheaper_x']:.1f}× cheaper, {base.get('faster_x') or 0:.1f}× "
                        f"faster than all on {base.get('model')} @ {base.get('chip')}"
                    )
                if not current:
                    head += "  \n_(as of the last version that compiled)_"
        return head
    return ""


def _placement_lines(ls: HetServer, uri: str, a: an.Analysis, info, step: str) -> list[str]:
    catalog = ls.catalog()
    label = Path(catalog).name if catalog else "the default catalog"
    plan, current, error = ls.placements.plan(uri, a.text, catalog, info.workflow.name)
    nodes = [n for n in (plan or {}).get("nodes", []) if n.get("step") == step]
    out = ["---"]
    if error:
        out.append(f"not placed: {error}")
        return out
    if not nodes:
        if ls.placements.busy(uri) or (not a.has_errors and plan is None):
            out.append(f"placement: compiling against {label}…")
        elif a.has_errors:
            out.append("placement: fix the errors to compile")
        else:
            return []
        return out
    for n in nodes:
        est = n.get("estimate", {})
        who = n["id"] if len(nodes) > 1 else ""
        asg = n.get("assignment")
        if asg is None:
            out.append(f"{who} runs on the **CPU** · est. {est.get('latency_s', 0):.3f} s".strip())
            continue
        calls = est.get("calls", 0)
        out.append(
            f"{who} **{asg['model']} @ {asg['chip']}** · est. ${est.get('cost_usd', 0):.4f}, "
            f"{est.get('latency_s', 0):.2f} s, {calls:g} call{'s' * (calls != 1)}".strip()
        )
        needs = n.get("needs") or {}
        if needs and n.get("needs_source") != "given":  # given needs are shown above
            shown = ", ".join(
                f"{k} ≥ {an._tokens(v) if k == 'context' else an._num(v)}" for k, v in needs.items()
            )
            src = n.get("needs_source", "none")
            why = f" — {n['needs_why']}" if src == "derived" and n.get("needs_why") else ""
            out.append(f"needs ({src}): {shown}{why}")
        alts = n.get("alternatives") or []
        if alts:
            shown = ", ".join(
                f"{x['model']} @ {x['chip']}"
                + (
                    f" (${x['cost_usd']:.4f}, {x['latency_s']:.2f} s)"
                    if x.get("cost_usd") is not None and x.get("latency_s") is not None
                    else ""
                )
                for x in alts[:3]
            )
            out.append(f"alternatives: {shown}")
        if n.get("why"):
            out.append(f"why: {n['why']}")
    out.append(
        f"_catalog: {label}_" + ("" if current else " _(as of the last version that compiled)_")
    )
    return out


def _schema_text(schema) -> str:
    fields = "\n".join(f"  {f.name}: {f.type}{'?' * f.optional}" for f in schema.fields)
    return f"```het\nschema {schema.name} {{\n{fields}\n}}\n```\n(line {schema.pos.line} of `{Path(schema.pos.file).name}`)"


# ---------------------------------------------------------------- definition


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: HetServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    a = ls.analysis(uri)
    line, char = ls.position(doc, params.position)
    t = an.definition(a, line, char)
    if t is None:
        return None
    if t.file == a.file:
        return lsp.Location(uri=uri, range=ls.range(doc, t.span))
    target = from_fs_path(str(Path(t.file).resolve())) or t.file
    r = lsp.Range(lsp.Position(t.span[0], t.span[1]), lsp.Position(t.span[2], t.span[3]))
    return lsp.Location(uri=target, range=r)


# ---------------------------------------------------------------- completion


@server.feature(
    lsp.TEXT_DOCUMENT_COMPLETION,
    lsp.CompletionOptions(trigger_characters=[".", "{", " ", "("]),
)
def completion(ls: HetServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    line, char = ls.position(doc, params.position)
    got = ls.analyses.get(uri)
    # While typing, the last analysis is good enough for what is in scope: no re-check per key.
    a = got[2] if got is not None else ls.analysis(uri)
    items = []
    for it in an.completions(a, line, char, doc.source):
        items.append(
            lsp.CompletionItem(
                label=it.label,
                kind=_ITEM_KIND.get(it.kind, lsp.CompletionItemKind.Text),
                detail=it.detail or None,
                documentation=it.doc or None,
                sort_text=f"{it.sort}{it.label}",
                insert_text=it.snippet,
                insert_text_format=lsp.InsertTextFormat.Snippet if it.snippet else None,
            )
        )
    return lsp.CompletionList(is_incomplete=False, items=items)


# ---------------------------------------------------------------- outline, formatting


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: HetServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)

    def convert(s: an.Symbol) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=s.name,
            kind=_SYMBOL_KIND[s.kind],
            detail=s.detail,
            range=ls.range(doc, s.span),
            selection_range=ls.range(doc, s.selection),
            children=[convert(c) for c in s.children],
        )

    return [convert(s) for s in an.symbols(ls.analysis(uri))]


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: HetServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    path = Path(_path(uri))
    try:
        new = format_source(doc.source, str(path), path.resolve().parent)
    except (HetError, RecursionError):
        return None  # a file that does not build is not formatted; its diagnostics say why
    if new == doc.source:
        return []
    lines = doc.lines
    end = lsp.Position(len(lines), 0)
    return [lsp.TextEdit(range=lsp.Range(lsp.Position(0, 0), end), new_text=new)]


def serve() -> None:
    """Serve over stdio until the client says exit."""
    try:
        server.start_io()
    finally:
        server.placements.close()
