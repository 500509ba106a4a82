"""The Anthropic Messages format, both directions, in one family.

- ``messages``: the mappings both directions share (stop reasons, tool choice,
  content blocks, usage), one table each;
- ``upstream``: an Anthropic model behind the gateway (our OpenAI-shaped
  request out, its message and errors back); ``upstream_stream``: its stream
  events back as OpenAI chunks;
- ``front``: an Anthropic client in front of the gateway (its Messages request
  in, our answers and streams back as Anthropic messages and events).
"""
