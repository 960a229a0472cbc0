"""The builtins of the language: the one table, their type checks, and their size estimates."""
