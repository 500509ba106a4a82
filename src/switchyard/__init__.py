"""Switchyard: an LLM gateway and platform toolkit.

The public face, for use in-process (``switchyard serve`` runs the same core
behind HTTP)::

    import switchyard

    with switchyard.Client("switchyard.yaml") as client:
        print(client.chat(model="gpt-4o", messages=[{"role": "user", "content": "hi"}]).text)
"""

from switchyard.client import AsyncClient, Client
from switchyard.core.call import Call, Kind
from switchyard.core.config import Config, ConfigError, load_config, parse_config
from switchyard.core.errors import SwitchyardError
from switchyard.core.messages import ChatResponse, Chunk, EmbeddingResponse, Usage
from switchyard.core.stage import Stage, Streaming, Unary

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Call",
    "ChatResponse",
    "Chunk",
    "Client",
    "Config",
    "ConfigError",
    "EmbeddingResponse",
    "Kind",
    "Stage",
    "Streaming",
    "SwitchyardError",
    "Unary",
    "Usage",
    "__version__",
    "load_config",
    "parse_config",
]
