"""The guard: personal data and secrets found in every request, blocked, redacted or masked before
anything is stored or sent, and the masked values restored in the answer (``stage.py`` says how).

Loaded only when the config has ``guard.policies`` (``gateway/services.py``): the default gateway
never imports it.
"""
