"""Plain-text drawing of an explored search tree (from a Result's "tree" trace event), for terminals and logs.

One line per node, indented under its parent: id, value (aggregated score), visits for MCTS, the step's
first characters, and how the path ended or why it was pruned. No colours and no terminal I/O here; the CLI
decides where the lines go.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def tree_lines(nodes: Sequence[Mapping[str, Any]], width: int = 60, max_nodes: int = 200) -> list[str]:
    """The tree of ``nodes`` (a "tree" event's ``data["nodes"]``) as indented lines, root first."""
    children: dict[int | None, list[Mapping[str, Any]]] = {}
    for node in nodes:
        children.setdefault(node["parent"], []).append(node)
    lines: list[str] = []
    todo = [(child, "") for child in reversed(children.get(0, []))]
    while todo and len(lines) < max_nodes:
        node, indent = todo.pop()
        lines.append(indent + _label(node, width))
        todo.extend((child, indent + "  ") for child in reversed(children.get(node["id"], [])))
    if todo:
        lines.append(f"... {len(nodes) - 1 - len(lines)} more node(s)")
    return lines


def _label(node: Mapping[str, Any], width: int) -> str:
    step = " ".join(str(node["step"]).split())
    if len(step) > width:
        step = step[: width - 1] + "…"
    value = "  -  " if node.get("value") is None else f"{node['value']:.3f}"
    visits = f" n={node['visits']}" if node.get("visits") else ""
    if node.get("terminal"):
        end = f"  [end: {node['terminal']}]"
    elif node.get("pruned"):
        end = f"  [pruned: {node['pruned']}]"
    else:
        end = ""
    return f"#{node['id']} {value}{visits} {step!r}{end}"
