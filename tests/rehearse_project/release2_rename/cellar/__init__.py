"""Release 2 of the fixture's app with a plain RenameField, which breaks release 1."""
