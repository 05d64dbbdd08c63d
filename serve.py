"""Start the app: `python serve.py [--workers N] [streamlit options]` (what `make run` does).

Streamlit treats a folder named `pages/` next to the entry script as an old-style multipage
app until the entry script has called `st.navigation` once; a first visit straight to a deep
link (e.g. /compare) would then run that page without the app's navigation. Telling the
pages manager up front that this app navigates with `st.navigation` avoids that
(`explorer.serving.workers.run_streamlit`).

Memory: every browser session runs its scripts in threads of its own, and glibc gives busy threads
malloc arenas of their own (up to 8 per core), so memory one session's model calls freed is kept
in its arena instead of serving the next session. The server therefore starts with
MALLOC_ARENA_MAX=2 unless that is set already (`bench/load.py` measures memory per session).

Workshop scale: `--workers N` (N > 1, or `--proxy`) starts N such processes on private ports and nginx in front
of them on `--server.address`/`--server.port`, with sticky sessions, health checks and restarts
(`explorer/serving`). Ctrl+C or SIGTERM stops nginx and every worker.
"""

import os
import signal
import sys

ARENAS = "2"
DEFAULT_PORT = 8501


def split_args(argv: list[str]) -> tuple[int, bool, str, int, list[str]]:
    """(workers, behind nginx, public address, public port, the other options) from the command line;
    with one worker and no `--proxy` the other options keep the address and port, for Streamlit itself."""
    workers, proxied, address, port, rest, public = 1, False, "0.0.0.0", DEFAULT_PORT, [], []
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if arg == "--proxy":  # nginx in front even of one worker (the benchmarks compare 1 and 2 alike)
            proxied = True
            continue
        if name not in ("--workers", "--server.address", "--server.port"):
            rest.append(arg)
            continue
        value = value if eq else next(it, "")
        if name == "--workers":
            if not value.isdigit() or int(value) < 1:
                raise SystemExit(f"--workers needs a whole number of at least 1, not {value!r}")
            workers = int(value)
            continue
        if name == "--server.port":
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise SystemExit(f"--server.port needs a port number, not {value!r}")
            port = int(value)
        else:
            address = value
        public += [name, value]
    proxied = proxied or workers > 1
    return workers, proxied, address, port, (rest if proxied else rest + public)


def workshop(n: int, address: str, port: int, rest: list[str]) -> None:
    """N workers behind nginx until Ctrl+C or SIGTERM."""
    from explorer.serving.proxy import ProxyError
    from explorer.serving.workers import Workshop

    pool = Workshop(n, address=address, port=port, streamlit_args=rest)
    signal.signal(signal.SIGTERM, lambda *_: pool.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: pool.stopping.set())
    try:
        print(f"Starting {n} workers behind nginx (logs in {pool.run_dir}) ...", flush=True)
        pool.start()
        if not pool.stopping.is_set():
            print(
                f"SSL Explorer: {pool.url} ({n} worker{'s' * (n > 1)} behind nginx, sticky sessions by cookie)",
                flush=True,
            )
            pool.run()
    except (ProxyError, RuntimeError) as exc:
        print(f"serve.py: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1)
    finally:
        pool.stop()
        print("Stopped nginx and the workers.", flush=True)


def main(argv: list[str]) -> None:
    if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
        # glibc reads it when the process starts: start again with it set
        os.execve(
            sys.executable,
            [sys.executable, os.path.abspath(__file__), *argv],
            {**os.environ, "MALLOC_ARENA_MAX": ARENAS},
        )
    workers, proxied, address, port, rest = split_args(argv)
    if proxied:
        workshop(workers, address, port, rest)
        return
    from explorer.serving.workers import run_streamlit

    run_streamlit(rest)


if __name__ == "__main__":
    main(sys.argv[1:])
