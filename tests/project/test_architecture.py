"""The architecture holds: the import-linter contracts of pyproject.toml (layers, no cycles, Streamlit only
in explorer.ui and explorer.serving, charts without models), no module importing another's _private name,
pages without model code, and every package's public names listed in its __init__."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the code that must keep to the house rules (tests may look inside the module they test)
CHECKED = [
    ROOT / "app.py",
    ROOT / "serve.py",
    *sorted((ROOT / "explorer").rglob("*.py")),
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((ROOT / "bench").glob("*.py")),
    *sorted((ROOT / "scripts").glob("*.py")),
]


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    command = str(exe) if exe.exists() else shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is not installed: `make setup-dev` installs import-linter (requirements-dev.txt)")
    return subprocess.run(
        [command, "--no-cache", "--no-logo", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_are_kept():
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails(tmp_path):
    """The check itself can fail: a contract the code breaks (explorer.ui imports streamlit) is reported."""
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["explorer"]\ninclude_external_packages = true\n\n'
        '[[tool.importlinter.contracts]]\nname = "ui without streamlit"\ntype = "forbidden"\n'
        'source_modules = ["explorer.ui"]\nforbidden_modules = ["streamlit"]\n'
    )
    result = lint_imports(str(config))
    assert result.returncode != 0 and "BROKEN" in result.stdout.upper(), result.stdout[-3000:]


def _explorer_imports(tree: ast.AST):
    """(line, module, names) of every `from explorer... import` and `import explorer...` in a file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "explorer":
            yield node.lineno, node.module, [(a.name, a.asname or a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "explorer":
                    yield node.lineno, a.name, []


def test_no_module_imports_another_modules_private_name():
    found = []
    for path in CHECKED:
        tree = ast.parse(path.read_text(), filename=str(path))
        modules = set()
        for line, module, names in _explorer_imports(tree):
            for name, bound in names:
                if name.startswith("_"):
                    found.append(f"{path.relative_to(ROOT)}:{line}: from {module} import {name}")
                modules.add(bound)
        for node in ast.walk(tree):  # `module._name` on an explorer module imported above
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not found, "make the name public where another module needs it, or move the code:\n" + "\n".join(found)


def test_pages_hold_no_model_code_and_nothing_imports_them():
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        libraries = sorted(m for m in imported if m.split(".")[0] in ("torch", "transformers"))
        assert not libraries, f"{path.name} imports {libraries}: model code belongs in explorer/"
    for path in CHECKED:
        if path.parent.name == "pages" or path.name == "app.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in imported if m.split(".")[0] in ("pages", "app")}, f"{path} imports a page"


PACKAGES = sorted(p.parent for p in (ROOT / "explorer").rglob("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: ".".join(p.relative_to(ROOT).parts))
def test_each_package_lists_its_public_names(package):
    init = package / "__init__.py"
    tree = ast.parse(init.read_text())
    stars = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)]
    assert not stars, f"{init}: star imports on lines {stars}; import the names explicitly"
    name = ".".join(package.relative_to(ROOT).parts)
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n) and importlib.util.find_spec(f"{name}.{n}") is None]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ lists a name twice"


def model_parameters(path: Path) -> list[tuple[str, str, str]]:
    """(function, parameter, annotation) for every parameter that takes a model handle (`lm`, `*_lm`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                if arg.arg == "lm" or arg.arg.endswith("_lm"):
                    found.append((node.name, arg.arg, ast.unparse(arg.annotation) if arg.annotation else ""))
    return found


def test_every_core_function_takes_a_typed_loaded_model():
    """One way to hand a model to the core: a parameter that takes one is typed `LoadedModel`."""
    core = [p for p in (ROOT / "explorer").rglob("*.py") if "ui" not in p.relative_to(ROOT / "explorer").parts]
    seen = {(str(p.relative_to(ROOT)), *f) for p in core for f in model_parameters(p)}
    assert len(seen) >= 40
    untyped = sorted(f for f in seen if f[3] not in ("LoadedModel", "LoadedModel | None"))
    assert not untyped, untyped


def test_the_typed_handle_check_finds_an_untyped_one(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("def f(lm: Any, clm_lm, x: int) -> None:\n    pass\n")
    assert model_parameters(src) == [("f", "lm", "Any"), ("f", "clm_lm", "")]


RAW_MODEL_NAMES = ("model", "reference", "policy", "encoder")


def test_a_bare_model_is_typed_as_a_torch_module_never_any():
    """The core takes a model two ways only: a `LoadedModel` (`lm`, `*_lm`: what pages hand over) or, inside
    the training, vision and loading code that works on the network itself, a `torch.nn.Module` (`model`,
    `reference`, `policy`, `encoder`): never `Any`."""
    core = [p for p in (ROOT / "explorer").rglob("*.py") if "ui" not in p.relative_to(ROOT / "explorer").parts]
    seen, untyped = 0, []
    for path in core:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                    if arg.arg in RAW_MODEL_NAMES and arg.annotation is not None:
                        seen += 1
                        if "Any" in ast.unparse(arg.annotation):
                            untyped.append((str(path.relative_to(ROOT)), node.name, arg.arg))
    assert seen >= 60
    assert not untyped, untyped


MAX_MODULE_LINES = 300


def test_no_product_module_is_over_300_lines():
    """One concept, one module: every module of the product (`explorer/`, `pages/`, `app.py`, `serve.py`),
    as `ruff format` writes it, stays within 300 lines."""
    product = [*(ROOT / "explorer").rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py", ROOT / "serve.py"]
    long = {
        str(p.relative_to(ROOT)): n for p in product if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert len(product) > 100
    assert not long, long
