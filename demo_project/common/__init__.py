"""What every release of the bookshop ships unchanged, kept once instead of once a release.

The two releases are the same codebase at two commits; only what differs between those
commits (the ``bookshop`` models and migrations, the release label) lives under
``release1/`` and ``release2/``, so ``diff -r release1 release2`` shows the change itself.
This package is an installed app of each release: settings base, the page and the JSON
API, all written against whatever ``bookshop.Book`` the running release defines.
"""
