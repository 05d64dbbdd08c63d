"""Start the app: `python serve.py [streamlit options]` (what `make run` does).

Streamlit treats a folder named `pages/` next to the entry script as an old-style multipage
app until the entry script has called `st.navigation` once; a first visit straight to a deep
link (e.g. /compare) would then run that page without the app's navigation. Telling the
pages manager up front that this app navigates with `st.navigation` avoids that.

Memory: every browser session runs its scripts in threads of its own, and glibc gives busy threads
malloc arenas of their own (up to 8 per core), so memory one session's model calls freed is kept
in its arena instead of serving the next session. The server therefore starts with
MALLOC_ARENA_MAX=2 unless that is set already (`bench/load.py` measures memory per session).
"""

import os
import sys
from pathlib import Path

ARENAS = "2"


def main(argv: list[str]) -> None:
    if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
        # glibc reads it when the process starts: start again with it set
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv],
                  {**os.environ, "MALLOC_ARENA_MAX": ARENAS})
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    app = str(Path(__file__).resolve().parent / "app.py")
    sys.argv = ["streamlit", "run", app, *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
