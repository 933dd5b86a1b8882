"""The one exception that input from a person may raise: it carries a Chinese reason for them."""


class InputError(ValueError):
    """Input a person typed that cannot be used; `reason` is a short Chinese sentence for them."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
