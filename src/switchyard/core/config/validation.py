"""Config of response validation: an alias's ``validation:``.

::

    models:
      extract:
        validation:
          json: true          # response_format json_object / json_schema: the answer must be that JSON
          tools: true         # tool calls: arguments a JSON object, matching the tool's parameters
          retries: 1          # tries again on the same deployment; then the next one, then fallbacks
        deployments: [...]
"""

from __future__ import annotations

from pydantic import Field

from switchyard.core.config.base import Strict


class AliasValidation(Strict):
    """What of this alias's answers the gateway checks, and how often it asks again."""

    json_check: bool = Field(default=True, alias="json", description="A request with response_format json_object or json_schema gets "
                                                 "an answer that parses (and matches the schema).")
    tools: bool = Field(default=True, description="Tool calls name a tool of the request, with arguments that are "
                                                  "a JSON object matching its parameters.")
    schema_check: bool = Field(default=True, alias="schema", description="Match the JSON against json_schema and "
                                                                         "tool parameters (false: syntax only).")
    retries: int = Field(default=1, ge=0, le=5, description="Tries again on the same deployment after an invalid "
                                                            "answer, before the next deployment.")
    max_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576,
                           description="A streamed answer longer than this is not held for validation: "
                                       "it ends with an error event.")
