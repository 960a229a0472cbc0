"""The text of a .het file to its AST: lexer, parser, syntax errors, builder, literals, templates, loader (with `use`), the type rules, and the formatter."""
