"""The charts an AppTest run drew, as plotly figure dicts in page order: `st.plotly_chart` ones and
the ones drawn in place (`explorer.ui.chart`: one element may hold a grid of charts)."""

from __future__ import annotations

import json

from explorer.ui import chart


def drawn(element) -> list[dict]:
    """The figures an in-place chart element draws (a place kept hidden, None, is not a chart)."""
    return [json.loads(f) for f in json.loads(element.proto.json)["figures"] if f is not None]


def figures(at) -> list[dict]:
    found: list[dict] = []

    def walk(node) -> None:
        kind = getattr(node, "type", None)
        if kind == "plotly_chart":
            found.append(json.loads(node.proto.spec))
        elif kind == "bidi_component" and node.proto.component_name == chart.COMPONENT:
            found.extend(drawn(node))
        children = getattr(node, "children", None) or {}
        for i in sorted(children):
            walk(children[i])

    walk(at._tree)
    return found


def in_place(at) -> list:
    """The in-place chart elements that draw at least one chart (their proto carries the key and figures)."""
    return [e for e in at.get("bidi_component") if e.proto.component_name == chart.COMPONENT and drawn(e)]


def in_place_at(at, key: str):
    """The in-place chart element drawn with this `key`."""
    (element,) = [e for e in in_place(at) if e.proto.id.endswith(key)]
    return element
