"""Accounts and their postings: a run of compat operations on each of two linked tables."""
