"""Release 2 of the fixture's app, rolled out with compat operations only."""
