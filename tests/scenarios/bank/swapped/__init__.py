"""Release 2 of the bank app where a state-only swap of the model names makes two
adjacent compat operations on "account" act on two different tables."""
