"""The semantic cache: answers reused for prompts that mean the same, per partition and alias.

A library the cache stage calls (``lookup``, ``store``, ``purge``, ``inspect``);
see ``cache.py``. Modules:

``prompt``         what is compared (the last user turn) and what must be equal (the context)
``embedder``       the embedder protocol; a worker thread that batches a blocking model
``minilm``         the embedded model: all-MiniLM-L6-v2 with numpy, weights from a package
``alias``          embeddings from a model the gateway serves, through its pipeline
``bucket``         one context's vectors: exact cosine search with a binary prefilter
``index``          this process's buckets, bounded (least recently used out), expiring
``entries``        where answers live: in this process, or (``redis_entries``) in Redis for every replica
``cache``          ``SemanticCache``: the above put together

Importing this package imports numpy: the gateway does so only when the
semantic cache is configured.
"""

from switchyard.cache.semantic.cache import SemanticCache, SemanticHit, SemanticMiss, SemanticSettings
from switchyard.cache.semantic.embedder import Embedder, EmbedderBusy, EmbedderUnavailable
from switchyard.cache.semantic.entries import Entries, MemoryEntries, entries_for

__all__ = ["Embedder", "EmbedderBusy", "EmbedderUnavailable", "Entries", "MemoryEntries", "SemanticCache",
           "SemanticHit", "SemanticMiss", "SemanticSettings", "entries_for"]
