"""A fast fake LLM upstream with fault injection, for tests, benchmarks and ``mock-upstream``.

Wire formats are modules exposing ``ROUTES`` (see ``mock.wire``); the OpenAI one
(with Azure's deployment paths) is ``mock.openai``.
"""

from switchyard.mock.faults import Faults
from switchyard.mock.runner import MockUpstreamThread, run_mock_upstream
from switchyard.mock.server import MockUpstream

__all__ = ["Faults", "MockUpstream", "MockUpstreamThread", "run_mock_upstream"]
