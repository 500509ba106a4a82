"""The flows' errors.

    FlowError                     anything the engine refuses or cannot do
     ├── FlowNotFound             no flow registered by that name / no run with that id
     ├── FlowDefinitionError      a YAML flow that does not validate (every problem, with its path)
     ├── LimitReached             a run's limit (steps, model calls, tokens, USD, wall time) is spent:
     │                            the run stops cleanly, status ``stopped``
     ├── EventTimeout             ``run.wait_for`` saw no event in time (also a TimeoutError)
     └── StepFailed               a step failed after its retries (the last error is its cause)
"""

from __future__ import annotations


class FlowError(Exception):
    """Base of the flows' errors."""


class FlowNotFound(FlowError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


class FlowDefinitionError(FlowError, ValueError):
    """A flow definition that does not validate; ``problems`` are ``(path, reason)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in problems))


class LimitReached(FlowError):
    """A run's limit is spent: ``limit`` names it (``steps``, ``model_calls``, ``tokens``, ``usd``,
    ``wall_seconds``), ``allowed`` and ``used`` are its figures."""

    def __init__(self, limit: str, allowed: float, used: float) -> None:
        self.limit, self.allowed, self.used = limit, allowed, used
        super().__init__(f"limit {limit} reached: {used:g} used of {allowed:g}")

    def __reduce__(self) -> tuple[type, tuple[str, float, float]]:  # journaled by pickling
        return type(self), (self.limit, self.allowed, self.used)


class EventTimeout(FlowError, TimeoutError):
    def __init__(self, event: str, timeout: float) -> None:
        self.event, self.timeout = event, timeout
        super().__init__(f"no {event!r} event within {timeout:g} s")

    def __reduce__(self) -> tuple[type, tuple[str, float]]:
        return type(self), (self.event, self.timeout)


class StepFailed(FlowError):
    def __init__(self, step: str, attempts: int, error: BaseException | str) -> None:
        self.step, self.attempts = step, attempts
        self.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        super().__init__(f"step {step!r} failed after {attempts} attempt(s): {self.error}")

    def __reduce__(self) -> tuple[type, tuple[str, int, str]]:
        return type(self), (self.step, self.attempts, self.error)
