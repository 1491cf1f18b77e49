"""Release 2 of the bank app with its runs broken up: an operation on the postings
between two runs on the accounts, and one of a run inside SeparateDatabaseAndState."""
