"""One exception hierarchy. Every message names the field (or file and path) and the problem."""

from __future__ import annotations


class PriorAuthError(Exception):
    """Base of every error priorauth raises on purpose."""


class RequestError(PriorAuthError):
    """A request that cannot be decided as written: names the field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class NoPolicyError(RequestError):
    """No policy covers the drug, or none is in force on the date of service."""


class PolicyError(PriorAuthError):
    """A policy or knowledge file that does not load: names the file, the path and the problem."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class DocumentError(PriorAuthError):
    """A document that cannot be imported as a policy: names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")
