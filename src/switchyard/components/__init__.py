"""Composable retrieval components: loaders, splitters, embedders, indexes, retrievers, rerankers.

One small protocol per role (``protocols.py``); built-ins registered by
``role:name`` in the plugin registry (``switchyard.components``, see
``core/registry.py``); ingestion and query pipelines declared in YAML
(``pipelines.py``); evaluation by recall@k and MRR (``evaluation.py``). Every
model call (embeddings, reranking, answers) goes through ``switchyard.AsyncClient``
so the gateway's limits, caches, budgets and spend records apply.

Heavy libraries (numpy, bm25s, usearch, pypdf, trafilatura) come with the
``components`` extra and are imported when a component needs them; the gateway
never imports this package unless ``retrieval:`` is configured.
"""

from switchyard.components.protocols import (
    DEFAULT_NAMESPACE,
    Chunk,
    Document,
    Embedder,
    Hit,
    Index,
    Loader,
    Reranker,
    Retriever,
    Splitter,
)

__all__ = ["DEFAULT_NAMESPACE", "Chunk", "Document", "Embedder", "Hit", "Index", "Loader", "Reranker",
           "Retriever", "Splitter"]
