"""A state machine drawn as SVG from its ASL: the definition that deploys, not a copy of it.

Layout is layered, as the Step Functions console draws: states in rows by their longest forward distance from
StartAt (edges that go back, like a poll loop, are drawn beside the boxes); Choice branches labelled, Catch
edges dashed. A Map state is a box holding its ItemProcessor laid out left to right, once per iteration (a
language of the document pipeline): one row per item. Every state is one ``<g id="state-NAME">`` (inside a
Map: ``state-MAP.ROW.NAME``) that the page colours as the execution moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

BOX_W, BOX_H, GAP_X, GAP_Y = 168, 34, 28, 46
ROW_LABEL_W, ROW_GAP, MAP_PAD = 48, 12, 14
INNER_W, INNER_GAP = 112, 22


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next, choice, default, catch
    label: str = ""


@dataclass
class Layout:
    states: dict[str, dict]
    start: str
    edges: list[Edge] = field(default_factory=list)
    layer: dict[str, int] = field(default_factory=dict)


def edges_of(states: dict[str, dict]) -> list[Edge]:
    """Every transition the definition allows: Next, each Choice rule and its Default, each Catch."""
    edges = []
    for name, state in states.items():
        if state.get("Next"):
            edges.append(Edge(name, state["Next"], "next"))
        for number, rule in enumerate(state.get("Choices", []), 1):
            edges.append(Edge(name, rule["Next"], "choice", _condition(rule) or f"rule {number}"))
        if state.get("Default"):
            edges.append(Edge(name, state["Default"], "default", "default"))
        for catcher in state.get("Catch", []):
            edges.append(Edge(name, catcher["Next"], "catch", "catch " + ", ".join(catcher["ErrorEquals"])))
    return edges


def _condition(rule: dict) -> str:
    """A Choice rule in a few words (its variable's last field and the comparison)."""
    for key, value in rule.items():
        if key in ("Next", "Variable"):
            continue
        if key in ("And", "Or", "Not"):
            return key.lower()
        variable = rule.get("Variable", "").split(".")[-1]
        return f"{variable} {_OPERATORS.get(key, key)} {value}"[:28]
    return ""


_OPERATORS = {"StringEquals": "=", "BooleanEquals": "=", "NumericEquals": "=", "IsPresent": "present",
              "NumericGreaterThan": ">", "NumericLessThan": "<", "IsNull": "null"}


def layout(states: dict[str, dict], start: str) -> Layout:
    """Layers by longest distance from StartAt over forward edges (a back edge closes a loop)."""
    result = Layout(states, start, edges_of(states))
    successors: dict[str, list[str]] = {name: [] for name in states}
    for edge in result.edges:
        successors[edge.source].append(edge.target)
    order, seen, back = [], set(), set()

    def visit(name: str, path: set[str]) -> None:  # depth first: a successor on the path is a back edge
        seen.add(name)
        path.add(name)
        for target in successors[name]:
            if target in path:
                back.add((name, target))
            elif target not in seen:
                visit(target, path)
        path.discard(name)
        order.append(name)

    visit(start, set())
    for name in states:  # unreachable states still get drawn (tests/template refuses them anyway)
        if name not in seen:
            visit(name, set())
    layer = {name: 0 for name in states}
    for name in reversed(order):  # topological order of the forward graph
        for target in successors[name]:
            if (name, target) not in back:
                layer[target] = max(layer[target], layer[name] + 1)
    result.layer = layer
    for edge in result.edges:
        edge.back = (edge.source, edge.target) in back  # type: ignore[attr-defined]
    return result


def render(definition: dict, rows: dict[str, list[str]] | None = None) -> str:
    """The whole state machine as one <svg>. `rows`: per Map state, the label of each iteration (a language);
    a Map without known iterations shows one row labelled 'each item'."""
    rows = rows or {}
    top = layout(definition["States"], definition["StartAt"])
    sizes = {name: _box_size(name, state, rows.get(name)) for name, state in top.states.items()}
    by_layer: dict[int, list[str]] = {}
    for name in top.states:
        by_layer.setdefault(top.layer[name], []).append(name)
    positions, y, width = {}, 20, 0
    for number in sorted(by_layer):
        names = by_layer[number]
        row_width = sum(sizes[n][0] for n in names) + GAP_X * (len(names) - 1)
        width = max(width, row_width)
        height = max(sizes[n][1] for n in names)
        x = 0
        for name in names:
            positions[name] = [x, y, *sizes[name]]
            x += sizes[name][0] + GAP_X
        y += height + GAP_Y
    margin = 120  # room on both sides for loops and catch edges drawn around the boxes
    total_width = width + 2 * margin
    for number, names in by_layer.items():  # centre each layer
        row_width = sum(sizes[n][0] for n in names) + GAP_X * (len(names) - 1)
        for name in names:
            positions[name][0] += margin + (width - row_width) / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {total_width:.0f} {y:.0f}" '
             f'width="{total_width:.0f}" height="{y:.0f}" role="img" aria-label="state machine">',
             _ARROW_DEFS]
    rail = max(x + w for x, _, w, _ in positions.values()) + 24
    parts += [_edge_path(edge, positions, rail_x=rail) for edge in top.edges]
    for name, state in top.states.items():
        x, y0, w, h = positions[name]
        if state["Type"] == "Map":
            parts.append(_map_box(name, state, x, y0, w, h, rows.get(name)))
        else:
            parts.append(_state_box(f"state-{name}", name, state["Type"], x, y0, w, h))
    parts.append("</svg>")
    return "\n".join(parts)


_ARROW_DEFS = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
               'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>')


def _processor(state: dict) -> dict:
    return state.get("ItemProcessor") or state["Iterator"]


def _box_size(name: str, state: dict, rows: list[str] | None) -> tuple[float, float]:
    if state["Type"] != "Map":
        return BOX_W, BOX_H
    inner = layout(_processor(state)["States"], _processor(state)["StartAt"])
    columns = max(inner.layer.values()) + 1
    count = len(rows or ["each item"])
    width = ROW_LABEL_W + columns * INNER_W + (columns - 1) * INNER_GAP + 2 * MAP_PAD
    return width, 26 + count * (_inner_height(inner) + ROW_GAP) + MAP_PAD


def _inner_height(inner: Layout) -> float:
    per_column: dict[int, int] = {}
    for name in inner.states:
        per_column[inner.layer[name]] = per_column.get(inner.layer[name], 0) + 1
    return max(per_column.values()) * (BOX_H - 6) + (max(per_column.values()) - 1) * 6


def _state_box(element_id: str, name: str, kind: str, x: float, y: float, w: float, h: float,
               data: str = "") -> str:
    label = escape(name)
    return (f'<g id="{escape(element_id)}" class="state type-{kind.lower()}" data-state="{label}"{data} tabindex="0">'
            f'<title>{label} ({kind})</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="6"/>'
            f'<text x="{x + w / 2:.0f}" y="{y + h / 2 + 4:.0f}" text-anchor="middle">{label}</text></g>')


def _map_box(name: str, state: dict, x: float, y: float, w: float, h: float, rows: list[str] | None) -> str:
    """The Map itself (clickable) and its ItemProcessor once per row, laid out left to right."""
    inner = layout(_processor(state)["States"], _processor(state)["StartAt"])
    parts = [f'<g id="state-{escape(name)}" class="state map type-map" data-state="{escape(name)}" tabindex="0">'
             f'<title>{escape(name)} (Map)</title>'
             f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="8"/>'
             f'<text x="{x + 10:.0f}" y="{y + 17:.0f}">{escape(name)} (Map: one row per item)</text></g>']
    row_height = _inner_height(inner) + ROW_GAP
    for row, label in enumerate(rows or ["each item"]):
        top = y + 26 + row * row_height
        parts.append(f'<text class="row-label" x="{x + MAP_PAD:.0f}" y="{top + 16:.0f}">{escape(label)}</text>')
        columns: dict[int, int] = {}
        placed = {}
        for inner_name in inner.states:
            column = inner.layer[inner_name]
            slot = columns.get(column, 0)
            columns[column] = slot + 1
            placed[inner_name] = [x + MAP_PAD + ROW_LABEL_W + column * (INNER_W + INNER_GAP),
                                  top + slot * BOX_H, INNER_W, BOX_H - 6]
        parts += [_edge_path(edge, placed, sideways=True) for edge in inner.edges]
        for inner_name, inner_state in inner.states.items():
            bx, by = placed[inner_name][:2]
            parts.append(_state_box(f"state-{name}.{row}.{inner_name}", inner_name, inner_state["Type"],
                                    bx, by, INNER_W, BOX_H - 6,
                                    data=f' data-map="{escape(name)}" data-row="{row}"'))
    return "\n".join(parts)


def _edge_path(edge: Edge, positions: dict[str, list[float]], sideways: bool = False,
               rail_x: float | None = None) -> str:
    """A curve from one box to another: top to bottom between layers, or (`sideways`, inside a Map row) left
    to right between columns; a loop goes round the boxes' far side."""
    sx, sy, sw, sh = positions[edge.source]
    tx, ty, tw, th = positions[edge.target]
    css = f"edge {edge.kind}" + (" back" if getattr(edge, "back", False) else "")
    if sideways and not getattr(edge, "back", False) and tx > sx:
        x1, y1, x2, y2 = sx + sw, sy + sh / 2, tx, ty + th / 2
        d = f"M {x1:.0f} {y1:.0f} C {(x1 + x2) / 2:.0f} {y1:.0f}, {(x1 + x2) / 2:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
    elif sideways:  # a poll loop inside a row: under the boxes, back to the left
        x1, y1, x2, y2 = sx + sw / 2, sy + sh, tx + tw / 2, ty + th
        low = max(y1, y2) + 10
        d = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {low:.0f}, {x2:.0f} {low:.0f}, {x2:.0f} {y2:.0f}"
    elif getattr(edge, "back", False) or ty <= sy:  # a loop: out of the right side, up, into the target's side
        x1, y1 = sx + sw, sy + sh / 2
        x2, y2 = tx + tw, ty + th / 2
        bend = max(x1, x2) + 40
        d = f"M {x1:.0f} {y1:.0f} C {bend:.0f} {y1:.0f}, {bend:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
    else:
        x1, y1 = sx + sw / 2, sy + sh
        x2, y2 = tx + tw / 2, ty
        d = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {(y1 + y2) / 2:.0f}, {x2:.0f} {(y1 + y2) / 2:.0f}, {x2:.0f} {y2:.0f}"
        if edge.kind == "catch":  # along one rail on the right, so catches do not cross the main flow
            rail = rail_x if rail_x is not None else max(sx + sw, tx + tw) + 30
            x1, y1, x2, y2 = sx + sw, sy + sh / 2, tx + tw, ty + th / 2
            d = f"M {x1:.0f} {y1:.0f} L {rail:.0f} {y1:.0f} L {rail:.0f} {y2:.0f} L {x2:.0f} {y2:.0f}"
    title = f"<title>{escape(edge.source)} → {escape(edge.target)}{': ' + escape(edge.label) if edge.label else ''}</title>"
    label = ""
    if edge.kind in ("choice", "default") and edge.label and not sideways:
        label = (f'<text class="edge-label" x="{x2 + 4:.0f}" y="{y2 - 5:.0f}">'
                 f'{escape(edge.label)}</text>')
    return (f'<g class="{css}" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">{title}'
            f'<path d="{d}" marker-end="url(#arrow)"/>{label}</g>')
