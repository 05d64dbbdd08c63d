"""Serving a workshop: several app processes (workers) behind nginx.

`proxy` writes nginx's configuration and runs nginx; `workers` starts the app processes, watches
their health and restarts a dead one; `process` forks children that die with the supervisor.
`serve.py --workers N` puts them together; the modules are imported where they are used.
"""

__all__ = ["process", "proxy", "workers"]
