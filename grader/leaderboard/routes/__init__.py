"""The web app's routes, one ``APIRouter`` per area, included by :func:`grader.leaderboard.app.create_app`:

- :mod:`.pages`  the student's pages (board, login, own page, uploads, selection, submissions);
- :mod:`.admin`  the TA's pages and CSV exports;
- :mod:`.api`    the JSON API;
- :mod:`.site`   what they share: the :class:`~.site.Site` (service, templates, cookies, rendering) and the
  dependencies (``Service``, ``SiteDep``, ``CurrentStudent``).

Each endpoint declares what it accepts with :func:`~grader.leaderboard.guard.policy` (body limit, login, content
type, rate limit); the guard enforces it before the route runs and hands the route the authenticated student.
"""
