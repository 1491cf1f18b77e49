"""The compat_views demo: the "Blue/Green Books" walkthrough, without a router app.

The original walkthrough switched between two copies of an app inside one project, and
the database could hold only one schema at a time. Here two releases of one bookshop
(``release1/`` and ``release2/``, each a complete Django project served by gunicorn) serve
one database at once: release 1 as the legacy colour blue through compat_views' views,
release 2 as the new colour green on the real tables, while traffic shifts from one to the
other, until ``compat complete`` or ``compat rollback``.

Run it from the repository root with ``python -m demo_project [--rollback] [--quick]
[--json PATH] [--html PATH]``; the README ("The demo by hand") has the same rollout by hand.
``python -m demo_project --rehearse [--reverse]`` runs no walkthrough: it rehearses the
rollout with release 1's own test suite (``manage.py compat rehearse``).
"""
