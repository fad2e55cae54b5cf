import time


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll until the predicate holds; for events that happen in another thread or process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
