"""Release 1 of the rehearsal fixture's app: the release that serves while release 2 rolls out."""
