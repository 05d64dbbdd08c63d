"""The charts an AppTest run drew, as plotly figure dicts in page order: `st.plotly_chart` ones and
the ones drawn in place (`explorer.ui.chart`)."""

from __future__ import annotations

import json

from explorer.ui import chart


def figures(at) -> list[dict]:
    found: list[dict] = []

    def walk(node) -> None:
        kind = getattr(node, "type", None)
        if kind == "plotly_chart":
            found.append(json.loads(node.proto.spec))
        elif kind == "bidi_component" and node.proto.component_name == chart.COMPONENT:
            figure = json.loads(node.proto.json)["figure"]
            if figure is not None:  # None: a place kept, hidden, for a chart to come
                found.append(json.loads(figure))
        children = getattr(node, "children", None) or {}
        for i in sorted(children):
            walk(children[i])

    walk(at._tree)
    return found


def places(at) -> list:
    """The in-place charts' elements (their proto carries the key and the figure), hidden places included."""
    return [e for e in at.get("bidi_component") if e.proto.component_name == chart.COMPONENT]


def in_place(at) -> list:
    """The in-place charts drawn (not the places kept hidden for a chart to come)."""
    return [e for e in places(at) if json.loads(e.proto.json)["figure"] is not None]
