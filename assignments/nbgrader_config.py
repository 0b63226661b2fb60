"""nbgrader configuration for the HW8 course directory (this folder: ``source/<assignment>/`` holds the
instructor notebooks, edited in Jupyter, each with its jupytext pair ``<assignment>.py``; nbgrader writes
``release/``, ``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db`` next to it, all ignored by git).

    cd assignments && nbgrader generate_assignment 01_simple
"""
c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "hw8-anomaly-detection"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# Files a notebook run leaves behind must not be released (a smoke run's prediction.csv would leak scores), nor
# the notebooks' jupytext pairs (source/<assignment>/<assignment>.py: the instructor's version, solutions and all).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "prediction.csv",
                            "prediction_smoke.csv", "*.png",
                            "*.pt", "data", "[0-9][0-9]_*.py"]

# What students see in place of a solution region (the release then stops at the first NotImplementedError).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Student outputs and markdown are rendered in the TA's formgrader and in feedback pages: nbconvert's bleach-based
# sanitiser drops scripts and JavaScript outputs and escapes event handlers, javascript: links and iframes.
c.HTMLExporter.sanitize_html = True

# Autograding runs the whole notebook: a training cell on the demo preset takes up to ~10 minutes on a CPU.
c.Execute.timeout = 1200
