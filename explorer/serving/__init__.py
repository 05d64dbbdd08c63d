"""Serving a workshop: several app processes (workers) behind nginx.

`proxy` writes nginx's configuration and runs nginx; `workers` starts the app processes, watches
their health and restarts a dead one; `memory` measures what each process really costs when the
model weights are shared between them. `serve.py --workers N` puts them together.
"""
