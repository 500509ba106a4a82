"""The MCP gateway: upstream MCP servers and the built-in services behind one endpoint, ``/mcp``.

::

    client (any MCP client) --streamable HTTP--> /mcp   (server/app.py mounts Hub.asgi)
        the gateway's key -> caller (auth.py); listing filtered by access.py
        tools/call: access -> argument size -> rate limit (limits.py) -> guard (guard/tools.py) -> the server
            -> its result through the guard -> audit + metrics
    Hub (hub.py): one MCP server of the SDK (stateless streamable HTTP), tool names ``<server>__<tool>``
        upstreams.py   remote servers: streamable HTTP, or stdio processes the gateway starts
        builtin/       calc, fetch, sql, code: in-process servers of their own names

Nothing here is imported unless the config has an ``mcp:`` section (the SDK is an
optional extra: ``pip install 'switchyard[mcp]'``).
"""
