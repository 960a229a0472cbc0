"""The `.het` language server (``hetflow lsp``): diagnostics, hover with the placement,
go to definition, completion, outline and formatting.

:mod:`hetflow.lsp.analysis` holds what the server knows about a text, with no protocol;
:mod:`hetflow.lsp.server` speaks the protocol (pygls, the ``lsp`` extra).
"""
