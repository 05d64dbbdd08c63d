"""Fault injection for the browser tests, loaded only when the tests put this folder on PYTHONPATH.

SSL_EXPLORER_TEST_FAULT names one function to make fail as an unexpected bug would, with a
message that holds a server path (the page must show neither the path nor a traceback):

- ``page``: the masked-LM page's token strip (inside a page, behind the app's error boundary);
- ``app``: the app's style sheet (outside every page, where Streamlit's own error display is left).
"""

import os

FAULT = os.environ.get("SSL_EXPLORER_TEST_FAULT", "")
SECRET = "/srv/secret/models/config.json"


def _boom(*args, **kwargs):
    raise RuntimeError(f"injected failure reading {SECRET}")


if FAULT == "page":
    from explorer.charts import mlm as _charts

    _charts.fill_strip_html = _boom
elif FAULT == "app":
    from explorer import ui as _ui

    _ui.css = _boom
