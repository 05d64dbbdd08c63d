"""explorer.ui.static_files: plotly.js copied from the installed plotly package into the served folder."""

from __future__ import annotations

import pytest

from explorer.ui import static_files


def test_plotly_js_is_copied_from_the_installed_package_and_kept_current(tmp_path):
    source = static_files.plotly_js_source()
    target = static_files.ensure_plotly_js(tmp_path / "static")
    assert target.read_bytes() == source.read_bytes() and target.name == "plotly.min.js"
    target.write_bytes(b"// an older plotly.js")  # another version left behind: replaced
    assert static_files.ensure_plotly_js(tmp_path / "static").read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "static").iterdir()) == ["plotly.min.js"]  # no temporary file left


def test_a_folder_that_cannot_be_written_raises_oserror(tmp_path):
    blocker = tmp_path / "static"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OSError):
        static_files.ensure_plotly_js(blocker)


def test_the_app_serves_its_static_folder():
    import tomllib

    config = tomllib.loads((static_files.STATIC_DIR.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
    assert static_files.STATIC_DIR == static_files.STATIC_DIR.parent / "static"
    assert (static_files.STATIC_DIR.parent / "app.py").is_file()  # Streamlit serves static/ next to the main script
