"""Draw a flow file: ``python -m bot flows graph FILE [--out DIR]``.

Writes ``<flow>.mmd`` (Mermaid, renders on GitHub), and ``<flow>.svg`` and
``<flow>.png`` rendered by Graphviz ``dot`` (Debian package ``graphviz``).

- Each node is a box with its name and the start of its ``Say: "..."`` line.
- The initial node has a thick border and an arrow from "call starts"; nodes
  that end the call (an ``end_conversation`` action) are red with a double border.
- An edge is labelled with the function the LLM calls and, for a branch, the
  result case(s) that take it (``default`` for the branch default).
- A branch that several nodes share (one YAML anchor, e.g. ``*collect_booking``)
  is drawn once, as a hexagon naming its function(s): the nodes offering it
  point at the hexagon, and the hexagon's edges are labelled with the cases.
  Without that, the booking flow's 14 copies of ``collect_booking`` would draw
  ~180 crossing edges.
- Global functions hang off one dashed "any node" box.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pipecat.flows import FlowConfig

from bot.flowfile.syntax import SAY_LINE

DEFAULT_OUT_DIR = Path("docs/flows")
SAY_CHARS = 60  # a Say line is cut to about this many characters
WRAP = 30  # and wrapped at this width


class GraphvizMissing(RuntimeError):
    """Graphviz ``dot`` is not installed."""


@dataclass
class Box:
    id: str
    name: str
    say: str | None = None
    initial: bool = False
    ends_call: bool = False


@dataclass
class Hub:
    """A branch shared by several nodes: the tool's result picks the next node."""

    id: str
    functions: list[str]
    field: str


@dataclass
class Edge:
    src: str
    dst: str
    labels: list[str] = field(default_factory=list)
    default: bool = False
    both: bool = False  # also drawn back: the node offers the hub's (single) function


@dataclass
class Graph:
    title: str
    boxes: list[Box]
    hubs: list[Hub]
    edges: list[Edge]
    has_globals: bool


ANY_NODE = "any_node"
START = "call_starts"


def _short_say(node: FlowConfig.Node) -> str | None:
    found = [s for m in node.task_messages for s in SAY_LINE.findall(m.content)]
    if not found:
        return None
    text = " ".join(found[-1].split())
    if len(text) <= SAY_CHARS:
        return text
    cut = text[: SAY_CHARS - 1].rsplit(" ", 1)[0]
    if cut.rfind("{{") > cut.rfind("}}"):  # never end inside a placeholder
        cut = cut[: cut.rfind("{{")].rstrip()
    return cut + "…"


def _ends_call(node: FlowConfig.Node) -> bool:
    return any(a.type == "end_conversation" for a in node.pre_actions + node.post_actions)


def _branch_key(branch: FlowConfig.Branch) -> tuple:
    return (branch.field, tuple(branch.cases.items()), branch.default)


def _case_edges(src: str, branch: FlowConfig.Branch, prefix: str, edges: dict) -> None:
    """Edges from ``src`` for each target of a branch, cases to one target merged into one label."""
    by_target: dict[str, list[str]] = defaultdict(list)
    for case, target in branch.cases.items():
        by_target[target].append(case)
    for target, cases in by_target.items():
        edges[(src, f"n_{target}", False)].append(prefix + ", ".join(cases))
    if branch.default:
        edges[(src, f"n_{branch.default}", True)].append(prefix + "default")


def build_graph(config: FlowConfig, title: str) -> Graph:
    """The drawing's boxes, shared-branch hubs and labelled edges."""
    boxes = [
        Box(f"n_{name}", name, _short_say(node), name == config.initial_node, _ends_call(node))
        for name, node in config.nodes.items()
    ]
    # Which nodes offer each distinct branch (by content, so an anchor and its aliases are one).
    offered: dict[tuple, list[tuple[str, str]]] = defaultdict(list)
    branches: dict[tuple, FlowConfig.Branch] = {}
    for name, node in config.nodes.items():
        for function in node.functions:
            if isinstance(function.transition_to, FlowConfig.Branch):
                key = _branch_key(function.transition_to)
                offered[key].append((name, function.name))
                branches[key] = function.transition_to

    edges: dict[tuple[str, str, bool], list[str]] = defaultdict(list)
    hubs: list[Hub] = []
    hub_of: dict[tuple, str] = {}
    for key, users in offered.items():
        if len({node for node, _ in users}) < 2:
            continue
        names = list(dict.fromkeys(fn for _, fn in users))
        hub = Hub(f"h{len(hubs) + 1}", names, branches[key].field)
        hubs.append(hub)
        hub_of[key] = hub.id
        _case_edges(hub.id, branches[key], "", edges)

    for name, node in config.nodes.items():
        for function in node.functions:
            target = function.transition_to
            if target is None:
                continue
            if isinstance(target, str):
                edges[(f"n_{name}", f"n_{target}", False)].append(function.name)
            elif (key := _branch_key(target)) in hub_of:
                edges[(f"n_{name}", hub_of[key], False)].append(function.name)
            else:
                _case_edges(f"n_{name}", target, f"{function.name}: ", edges)
    for function in config.global_functions:
        target = function.transition_to
        if isinstance(target, str):
            edges[(ANY_NODE, f"n_{target}", False)].append(function.name)
        elif isinstance(target, FlowConfig.Branch):
            _case_edges(ANY_NODE, target, f"{function.name}: ", edges)

    # A node offering a single-function hub that also leads back to it: one two-way arrow
    # labelled with the case (the hexagon already names the function).
    single = {h.id for h in hubs if len(h.functions) == 1}
    two_way: set[tuple[str, str, bool]] = set()
    for src, dst, default in list(edges):
        if dst in single and (dst, src, False) in edges:
            del edges[(src, dst, default)]
            two_way.add((dst, src, False))
        elif dst in single:
            edges[(src, dst, default)] = []
    return Graph(
        title=title,
        boxes=boxes,
        hubs=hubs,
        edges=[Edge(src, dst, labels, default, (src, dst, default) in two_way) for (src, dst, default), labels in edges.items()],
        has_globals=bool(config.global_functions),
    )


# -- Mermaid -----------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    return (
        text.replace("#", "#35;")
        .replace('"', "#quot;")
        .replace("<", "#60;")
        .replace(">", "#62;")
        .replace("{", "#123;")
        .replace("}", "#125;")
    )


def to_mermaid(graph: Graph) -> str:
    lines = [f"%% {graph.title}: generated by `python -m bot flows graph`; do not edit by hand.", "flowchart TD"]
    lines.append(f'    {START}(("call starts"))')
    for box in graph.boxes:
        label = f"<b>{_mermaid_text(box.name)}</b>"
        if box.say:
            label += "<br/><i>“" + "<br/>".join(map(_mermaid_text, textwrap.wrap(box.say, WRAP))) + "”</i>"
        else:
            label += "<br/>(no Say line)"
        shape = ('(["', '"])') if box.ends_call else ('["', '"]')
        lines.append(f"    {box.id}{shape[0]}{label}{shape[1]}")
    for hub in graph.hubs:
        label = "<br/>".join(map(_mermaid_text, hub.functions)) + f"<br/><i>result: {_mermaid_text(hub.field)}</i>"
        lines.append(f'    {hub.id}{{{{"{label}"}}}}')
    if graph.has_globals:
        lines.append(f'    {ANY_NODE}[/"any node<br/><i>global functions</i>"/]')
    initial = next((b.id for b in graph.boxes if b.initial), None)
    if initial:
        lines.append(f"    {START} --> {initial}")
    for edge in graph.edges:
        arrow = "-.->" if edge.default or edge.src == ANY_NODE else "<-->" if edge.both else "-->"
        label = _mermaid_text(" / ".join(edge.labels))
        lines.append(f'    {edge.src} {arrow}|"{label}"| {edge.dst}' if label else f"    {edge.src} {arrow} {edge.dst}")
    lines += [
        "    classDef fc_start fill:#222,stroke:#222,color:#fff",
        "    classDef fc_initial stroke:#1f6feb,stroke-width:4px",
        "    classDef fc_ending fill:#fde2dd,stroke:#c0392b,stroke-width:2px",
        "    classDef fc_hub fill:#eef3fb,stroke:#6b8ccc",
        "    classDef fc_global fill:#fff,stroke:#888,stroke-dasharray:5 5",
        f"    class {START} fc_start",
    ]
    if initial:
        lines.append(f"    class {initial} fc_initial")
    if ending := [b.id for b in graph.boxes if b.ends_call]:
        lines.append(f"    class {','.join(ending)} fc_ending")
    if graph.hubs:
        lines.append(f"    class {','.join(h.id for h in graph.hubs)} fc_hub")
    if graph.has_globals:
        lines.append(f"    class {ANY_NODE} fc_global")
    return "\n".join(lines) + "\n"


# -- Graphviz ----------------------------------------------------------------------------------


def _dot_label(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    e = html.escape
    out = [
        "digraph flow {",
        "  graph [rankdir=TB, nodesep=0.35, ranksep=0.55, fontname=Helvetica, fontsize=20, labelloc=t,"
        f" label=<<b>{e(graph.title)}</b><br/><font point-size='12'>thick blue border: the call starts here"
        " · red, double border: the call ends<br/>hexagon: a tool's result picks the next node"
        " · dashed: a branch's default or a global function</font><br/> >];",
        "  node [fontname=Helvetica, fontsize=11, shape=box, style=\"rounded,filled\", fillcolor=\"#f7f7f7\","
        " color=\"#555555\", margin=\"0.12,0.06\"];",
        "  edge [fontname=Helvetica, fontsize=9, color=\"#666666\", fontcolor=\"#333333\", arrowsize=0.7];",
        f"  {START} [shape=circle, label=\"call\\nstarts\", fontsize=9, fontcolor=white, fillcolor=\"#222222\","
        " style=filled, width=0.6, fixedsize=true];",
    ]
    for box in graph.boxes:
        say = (
            "<br/>".join(e(line) for line in textwrap.wrap(f"“{box.say}”", WRAP))
            if box.say
            else "(no Say line)"
        )
        label = f"<<b>{e(box.name)}</b><br/><font point-size='9' color='#444444'><i>{say}</i></font>>"
        attrs = [f"label={label}"]
        if box.ends_call:
            attrs += ['fillcolor="#fde2dd"', 'color="#c0392b"', "peripheries=2"]
        if box.initial:
            attrs += ['color="#1f6feb"', "penwidth=3", 'fillcolor="#e6efff"']
        out.append(f"  {box.id} [{', '.join(attrs)}];")
    for hub in graph.hubs:
        names = "<br/>".join(e(n) for n in hub.functions)
        label = f"<{names}<br/><font point-size='8' color='#555555'>result: {e(hub.field)}</font>>"
        out.append(
            f"  {hub.id} [shape=hexagon, style=filled, fillcolor=\"#eef3fb\", color=\"#6b8ccc\", fontsize=10,"
            f" margin=\"0.05,0.03\", label={label}];"
        )
    if graph.has_globals:
        out.append(
            f"  {ANY_NODE} [shape=note, style=\"dashed,filled\", fillcolor=white, color=\"#888888\","
            " label=<any node<br/><font point-size='9'><i>global functions</i></font>>];"
        )
    initial = next((b.id for b in graph.boxes if b.initial), None)
    if initial:
        out.append(f"  {START} -> {initial} [penwidth=2, color=\"#1f6feb\"];")
    for edge in graph.edges:
        attrs = [f"label={_dot_label(chr(10).join(edge.labels))}"]
        if edge.default or edge.src == ANY_NODE:
            attrs.append("style=dashed")
        if edge.src == ANY_NODE:
            attrs.append('color="#999999"')
        if edge.both:
            attrs.append("dir=both")
        out.append(f"  {edge.src} -> {edge.dst} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def render_dot(dot_text: str, out: Path, fmt: str, *, dpi: int = 96) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing("Graphviz 'dot' is not installed: apt-get install graphviz (scripts/run.sh does)")
    args = [dot, f"-T{fmt}", f"-Gdpi={dpi}", "-o", str(out)] if fmt == "png" else [dot, f"-T{fmt}", "-o", str(out)]
    result = subprocess.run(args, input=dot_text, text=True, capture_output=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {result.stderr.strip()}")


def draw_flow(path: str | Path, out_dir: str | Path = DEFAULT_OUT_DIR) -> list[Path]:
    """Write ``<flow>.mmd``, ``<flow>.svg`` and ``<flow>.png`` for the flow file at ``path``.

    Raises:
        ValueError / pydantic.ValidationError: The flow is not valid (run ``flows check``).
        GraphvizMissing: ``dot`` is not installed (the ``.mmd`` is written anyway).
    """
    path = Path(path)
    config = FlowConfig.from_file(path)
    graph = build_graph(config, title=path.name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mmd, svg, png = (out_dir / f"{path.stem}.{ext}" for ext in ("mmd", "svg", "png"))
    mmd.write_text(to_mermaid(graph), encoding="utf-8")
    dot_text = to_dot(graph)
    render_dot(dot_text, svg, "svg")
    render_dot(dot_text, png, "png")
    return [mmd, svg, png]
