"""Towns in regions: a referenced table renamed and its referencing table's column renamed."""
