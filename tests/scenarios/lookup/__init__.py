"""Items that look up their category: expressions with subqueries over another table."""
