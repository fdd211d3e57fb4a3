"""Domain exceptions shared by services, forms, the CLI and (later) the API."""


class ValidationError(ValueError):
    """A value that breaks a domain rule, naming the field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PermissionDenied(Exception):
    """The acting user may not do this to this object."""
