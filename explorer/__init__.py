"""SSL Explorer core: models, objectives and charts, importable without Streamlit."""

from explorer.errors import ExplorerError, ModelUnavailable


def load(role, model_id=None, progress=None):
    """Load a model for a role (see `explorer.models.load`)."""
    from explorer.models import load as _load

    return _load(role, model_id, progress)


__all__ = ["ExplorerError", "ModelUnavailable", "load"]
