"""``compile``: a `.het` workflow and a catalog in, a :class:`~hetflow.plan.model.Plan` out.

The pipeline runs one way — load → check → infer types → graph → estimate → plan
nodes → the optimizer's passes — and each stage is a function of the one before.
Options given here override what the file says; a bad option is a one-line
:class:`~hetflow.errors.HetError`, a bad program a :class:`~hetflow.errors.DiagnosticError`
holding every diagnostic with its source.

>>> plan = compile("workflow w {\\n input q: text\\n reason a = prompt \\"{{ q }}\\"\\n"
...                " output a\\n}", objective="cost")
>>> plan.nodes[0].id, plan.nodes[0].assignment is not None, plan.optimizer["exact"]
('a', True, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hetflow import __version__
from hetflow.catalog import Catalog, load_catalog
from hetflow.checks.checker import check_program, infer_types
from hetflow.errors import DiagnosticError, HetError, closest
from hetflow.estimate.calibrate import Calibration
from hetflow.estimate.calibrate import load as load_traces
from hetflow.estimate.quality import Quality, check_matches, load_quality
from hetflow.estimate.sizes import default_size, estimate, hinted_size, measured_size
from hetflow.estimate.speeds import fit_offers, prior_of
from hetflow.optimize import Context, optimize
from hetflow.optimize.skeleton import plan_skeleton
from hetflow.plan.graph import build_graph
from hetflow.plan.model import Plan
from hetflow.syntax import ast
from hetflow.syntax.loader import load, pick_workflow

if TYPE_CHECKING:
    from hetflow.runtime import PlanSource

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kKmM]?)\s*(tokens?|items?)?\s*$")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# The solver's time limit: past it, the best plan found is used and plan.optimizer
# says exact=false with the gap HiGHS proved (docs/optimizer.md, "Fallback").
DEFAULT_TIME_LIMIT_S = 30.0


# ---------------------------------------------------------------- option values


def parse_size(value: Any, what: str = "size") -> tuple[float, str | None]:
    """``128k`` → (128000, None); ``40 items`` → (40, "items"); a number is tokens.

    >>> parse_size("128k"), parse_size("2M tokens"), parse_size(40)
    ((128000.0, None), (2000000.0, 'tokens'), (40.0, None))
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value), None
    m = _SIZE.match(str(value))
    if not m:
        raise HetError(f"{what}: '{value}' is not a size (write e.g. 128k, 4000 tokens, 40 items)")
    scale = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}[m.group(2)]
    unit = m.group(3)
    return float(m.group(1)) * scale, (None if unit is None else unit.rstrip("s") + "s")


def parse_money(value: Any) -> float:
    """``"$0.50"``, ``"0.5"`` or ``0.5`` → 0.5 dollars."""
    try:
        amount = float(str(value).strip().lstrip("$")) if not isinstance(value, float) else value
    except ValueError:
        raise HetError(f"budget: '{value}' is not an amount of dollars (write e.g. 0.50)") from None
    if amount < 0:
        raise HetError(f"budget: {value} is negative")
    return amount


def parse_duration(value: Any) -> float:
    """``"30s"``, ``"5m"``, ``"500ms"``, ``"1h"`` or a number of seconds → seconds.

    >>> parse_duration("5m"), parse_duration("500ms"), parse_duration(30)
    (300.0, 0.5, 30.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise HetError(f"deadline: '{value}' is not a duration (write e.g. 30s, 5m, 500ms)")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise HetError(f"deadline: {value} must be more than zero")
    return seconds


# ---------------------------------------------------------------- the stages


def _load(source) -> tuple[ast.Program, dict[str, str]]:
    if isinstance(source, ast.Program):
        return source, {source.file: source.source}
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    program, diags, sources = load(source)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags, sources)
    return program, sources


def _catalog(catalog):
    if isinstance(catalog, Catalog):
        return catalog
    return load_catalog(None if catalog is None else os.fspath(catalog))


def _fitted_speeds(cat: Catalog, calibration: Calibration) -> tuple[Catalog, dict[str, str]]:
    """The catalog with the speeds of every offer the traces called fitted to those calls
    (hetflow.estimate.speeds), and per such offer what the fit rests on."""
    fits = fit_offers(calibration.records, {o.id: prior_of(o) for o in cat.offers})
    if not fits:
        return cat, {}
    offers = []
    for o in cat.offers:
        fit = fits.get(o.id)
        if fit is not None:
            o = o.model_copy(
                update={
                    "ttft_ms": fit.ttft_ms,
                    "prefill_tps": fit.prefill_tps,
                    "output_tps": fit.output_tps,
                    "source": fit.source(),
                }
            )
        offers.append(o)
    return cat.model_copy(update={"offers": offers}), {k: f.source() for k, f in fits.items()}


def _sizes(wf: ast.Workflow, input_sizes, inputs, schemas) -> dict:
    by_name = {i.name: i for i in wf.inputs}
    out = {}
    for what, given in (("inputs", inputs or {}), ("input size", input_sizes or {})):
        for name, value in given.items():
            if name not in by_name:
                hint = closest(name, list(by_name))
                more = (
                    f"; did you mean '{hint}'?"
                    if hint
                    else f" (its inputs: {', '.join(by_name) or 'none'})"
                )
                raise HetError(f"{what}: workflow '{wf.name}' has no input '{name}'{more}")
            if what == "inputs":
                out[name] = measured_size(value)
            else:
                amount, unit = parse_size(value, f"input size of '{name}'")
                out[name] = hinted_size(by_name[name].type, amount, unit, schemas)
    return out


def _unsized(
    wf: ast.Workflow, sizes: Mapping[str, Any], schemas, traced: bool = False
) -> list[str]:
    """A warning per text or list input the estimate could only assume a size for
    (``traced``: calibration took what the traced runs read instead, where it could)."""
    out = []
    for inp in wf.inputs:
        if inp.name in sizes or inp.size is not None or inp.type.name not in ("text", "list"):
            continue
        size = default_size(inp.type, schemas)
        what = (
            f"{size.items:,.0f} items of {size.tokens / size.items:,.0f} tokens"
            if inp.type.name == "list" and size.items
            else f"{size.tokens:,.0f} tokens"
        )
        size_eg = "50" if inp.type.name == "list" else "8k"
        hint_eg = "50 items" if inp.type.name == "list" else "8k tokens"
        out.append(
            f"{inp.pos}: input '{inp.name}' has no size, so its estimate "
            + ("takes what the traced runs read, else assumes" if traced else "assumes")
            + f" {what}: "
            f"give the real input (-i {inp.name}=@FILE), a size (e.g. --input-size "
            f"{inp.name}={size_eg}) or a hint (input {inp.name}: {inp.type} ~ {hint_eg})"
        )
    return out


def _as_declared(wf: ast.Workflow, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Real inputs as the runtime will read them: a list or record given as JSON text (as
    ``--input`` gives it) is parsed, so the compiler measures items, not characters."""
    types = {i.name: i.type for i in wf.inputs}
    out = dict(inputs or {})
    for name, value in out.items():
        t = types.get(name)
        if t is not None and t.name not in ("text", "image") and isinstance(value, str):
            try:
                out[name] = json.loads(value)
            except ValueError:
                pass  # the run says what is wrong with it
    return out


def compile(
    source: str | os.PathLike[str] | ast.Program,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    objective: str | None = None,
    budget: float | str | None = None,
    deadline: float | str | None = None,
    input_sizes: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    workflow: str | None = None,
    time_limit: float | None = None,
    calibrate: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    quality: Quality | str | os.PathLike[str] | None = None,
    min_quality: float | None = None,
    learn_from: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
) -> Plan:
    """Compile a workflow (a path, `.het` text or a Program) against a catalog into a Plan.

    ``calibrate``: trace files (a path or a list of them) of earlier runs: the steps they
    traced are estimated from their calls, and the offers they called get speeds fitted
    to them (docs/optimizer.md, "Calibration from traces").
    ``quality``: a QUALITY.json path (or a loaded Quality) that ``hetflow tune`` wrote;
    with ``min_quality`` (or a step's ``with min_quality=``) a measured step is placed
    only on candidates whose measured score meets the target (docs/quality.md).
    ``learn_from``: QUALITY.json files of any tuned workflows; with a target, a step
    nobody measured gets the reasoning level that tuned steps like it needed.
    """
    program, sources = _load(source)
    diags = check_program(program)
    if any(d.is_error for d in diags):
        raise DiagnosticError(diags, sources)
    wf = pick_workflow(program, workflow)
    cat = _catalog(catalog)
    schemas = {s.name: s for s in program.schemas}
    if objective is not None and objective not in ast.OBJECTIVES:
        hint = closest(str(objective), ast.OBJECTIVES)
        raise HetError(
            f"unknown objective '{objective}'"
            + (f"; did you mean '{hint}'?" if hint else f" (choose {', '.join(ast.OBJECTIVES)})")
        )
    types = infer_types(program, wf)
    g = build_graph(wf)
    inputs = _as_declared(wf, inputs)
    sizes = _sizes(wf, input_sizes, inputs, schemas)
    calibration = _calibration(calibrate)
    fitted: dict[str, str] = {}
    if calibration is not None:
        cat, fitted = _fitted_speeds(cat, calibration)
    est = estimate(wf, g, sizes, schemas, _per_item(types, g), calibration, inputs)
    plan, where = plan_skeleton(wf, g, est, types, schemas)
    plan.objective = objective or (wf.objective.value if wf.objective else "balanced")
    plan.budget_usd = (
        parse_money(budget) if budget is not None else (wf.budget.value if wf.budget else None)
    )
    plan.deadline_s = (
        parse_duration(deadline)
        if deadline is not None
        else (wf.deadline.value if wf.deadline else None)
    )
    plan.hetflow_version = __version__
    text = program.source or sources.get(program.file, "")
    plan.source = {"file": program.file, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
    plan.catalog = {"name": cat.name, "sha256": cat.hash}
    plan.calibrated_offers = fitted
    plan.warnings.extend(f"{d.pos}: {d.message}" for d in diags if not d.is_error)
    plan.warnings.extend(_unsized(wf, sizes, schemas, traced=bool(est.calibrated)))
    if calibration is not None:
        model_steps = [
            s.name
            for s, _ in ast.walk_steps(wf.steps)
            if isinstance(s, (ast.Recurse, ast.Reason, ast.Zoom))
        ]
        plan.warnings.extend(calibration.warnings(model_steps, wf.name))
    ctx = Context(
        cat,
        quality=_quality(quality, plan),
        min_quality=_target(min_quality),
        learn_from=_learn_from(learn_from),
        where=where,
        sources=sources,
        time_limit=DEFAULT_TIME_LIMIT_S if time_limit is None else time_limit,
        budget_pos=wf.budget.pos if budget is None and wf.budget else None,
        deadline_pos=wf.deadline.pos if deadline is None and wf.deadline else None,
    )
    return optimize(plan, ctx)


def _quality(quality, plan: Plan):
    """The measured quality named by ``quality=``, checked to be this workflow's."""
    if quality is None:
        return None
    where = "quality" if isinstance(quality, Quality) else str(quality)
    q = quality if isinstance(quality, Quality) else load_quality(quality)
    check_matches(q, plan.workflow, plan.source.get("sha256", ""), where)
    return q


def _learn_from(paths) -> list[Quality]:
    if isinstance(paths, (str, os.PathLike, Quality)):
        paths = [paths]
    return [p if isinstance(p, Quality) else load_quality(p) for p in paths or ()]


def _target(value: float | str | None) -> float | None:
    if value is None:
        return None
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise HetError(f"min_quality must be a number from 0 to 1, not {value!r}") from None
    if not 0 <= target <= 1:
        raise HetError(f"min_quality must be from 0 to 1, not {target:g}")
    return target


def _calibration(paths):
    """The traces named by ``calibrate=`` read and measured, or None without any."""
    if paths is None:
        return None
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        return None
    return load_traces(paths)


def _per_item(types: Mapping[str, ast.TypeRef], g) -> dict[str, ast.TypeRef]:
    """Types of one value: a name defined in a map body is per item, not the list."""
    out = dict(types)
    for _, data in g.nodes(data=True):
        name, t = data["step_name"], types.get(data["step_name"])
        for _ in data["maps"]:
            if t is not None and t.is_list:
                t = t.item
        if t is not None:
            out[name] = t
    return out


def plan_for_run(
    source: PlanSource,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    workflow: str | None = None,
) -> Plan:
    """What ``hetflow run`` runs: a Plan, a plan dict or JSON file as it is; a ``.het``
    file compiled first, sized by the real inputs it is given."""
    # The runtime costs `hetflow compile` ~0.16 s more to import (python -X importtime)
    from hetflow.runtime import load_plan
    from hetflow.runtime.inputs import for_sizing

    if isinstance(source, (Plan, dict)):
        return load_plan(source)
    path = Path(source)
    if path.suffix == ".het" or (path.suffix != ".json" and not path.exists()):
        real = for_sizing(inputs or {})
        return compile(str(source), catalog=catalog, inputs=real or None, workflow=workflow)
    return load_plan(path)
