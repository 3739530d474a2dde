"""The one error a policy raises: where (file, rule, field) and what."""

from __future__ import annotations


class PolicyError(ValueError):
    def __init__(self, message: str, *, file: str | None = None, rule: str | None = None, field: str | None = None):
        self.message = message
        self.file = file
        self.rule = rule
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.rule:
            where.append(f"rule {self.rule!r}")
        if self.field:
            where.append(self.field)
        return (": ".join(where) + ": " if where else "") + self.message

    def located(self, *, file: str | None = None, rule: str | None = None, field: str | None = None) -> PolicyError:
        """The same error with missing location parts filled in."""
        return PolicyError(self.message, file=self.file or file, rule=self.rule or rule, field=self.field or field)
