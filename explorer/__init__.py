"""SSL Explorer core: models, objectives and charts, importable without Streamlit.

The front door: `load(role, model_id=None)` gives a `LoadedModel`, the one handle every core function
takes; every failure is an `ExplorerError` (`ModelUnavailable` for models) with a message for the page.
"""

from explorer.errors import ExplorerError, ModelUnavailable
from explorer.models.loaded import LoadedModel
from explorer.models.loader import load

__all__ = ["ExplorerError", "ModelUnavailable", "LoadedModel", "load"]
