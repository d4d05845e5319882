"""The one exception type users see: a message that names the problem and the fix."""


class HumeSSLError(Exception):
    """Bad input or state that the user can fix. The CLI prints it and exits with status 2."""


class NotFittedError(HumeSSLError, AttributeError):
    """An estimator was used before `fit`."""


def raise_first_failed(checks: list[tuple[bool, str]]) -> None:
    """Raise HumeSSLError(message + ".") for the first (ok, message) pair that is not ok."""
    for ok, msg in checks:
        if not ok:
            raise HumeSSLError(msg + ".")
