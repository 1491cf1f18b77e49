"""Release 2 of the fixture's app whose ``up`` fails for some rows release 1 writes."""
