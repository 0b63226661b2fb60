"""The homework's nbgrader course directory: ``source/<assignment>/`` notebooks, written by ``build_notebooks``."""
