"""Response validation: answers that must be JSON (``response_format``) or tool calls,
checked for aliases with ``validation:`` (``expectation.py``: what an answer must be;
``stream.py``: a stream's answer gathered to its end; ``policy.py``: the wrapper around
each deployment's chain that asks again or refuses)."""
