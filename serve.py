"""Start the app: `python serve.py [streamlit options]` (what `make run` does).

Streamlit treats a folder named `pages/` next to the entry script as an old-style multipage
app until the entry script has called `st.navigation` once; a first visit straight to a deep
link (e.g. /compare) would then run that page without the app's navigation. Telling the
pages manager up front that this app navigates with `st.navigation` avoids that.
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    app = str(Path(__file__).resolve().parent / "app.py")
    sys.argv = ["streamlit", "run", app, *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
