"""Prepare a fresh install once: `python -m explorer.prepare` (run by `make run`, `make test` and the
Dockerfile). It converts the offline models (SmolLM2's GGUF file into its float32 safetensors cache)
and copies the files the app serves itself into `static/` (plotly.js)."""

from __future__ import annotations


def main() -> None:
    from explorer.models.made.gguf_cache import prepare_offline_defaults
    from explorer.ui.static_files import ensure_plotly_js

    prepare_offline_defaults()
    print(f"plotly.js ready to serve at {ensure_plotly_js()}", flush=True)


if __name__ == "__main__":  # pragma: no cover - CLI used by the Makefile and the Dockerfile
    main()
