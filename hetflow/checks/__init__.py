"""Static checks over the AST: names and scopes, types, every diagnostic of LANGUAGE.md §5."""
