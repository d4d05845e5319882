"""Downloads that end: a silent server times out, an unresolvable hub host reads the cache."""

import os
import socket
import threading
import time
import urllib.request

import pytest

from hume_ssl.core import network


def test_stall_timeout_ends_a_silent_download():
    """Before: torch.hub's and torchvision's urlopen had no timeout, and a server (or a
    firewall) that accepts and never answers held the run forever."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/weights.pth"
    assert socket.getdefaulttimeout() is None
    start = time.monotonic()
    with network.stall_timeout(0.5), pytest.raises(OSError, match="timed out"):
        urllib.request.urlopen(url)  # no timeout argument, as in torch.hub
    assert time.monotonic() - start < 10
    assert socket.getdefaulttimeout() is None  # restored
    socket.setdefaulttimeout(7.0)
    try:
        with network.stall_timeout(0.5):
            assert socket.getdefaulttimeout() == 7.0  # the process's own timeout kept
    finally:
        socket.setdefaulttimeout(None)
        server.close()


def _no_dns(monkeypatch):
    def fail(*a, **k):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    proxies = {f"{kind}_proxy" for kind in network.PROXY_KINDS}
    for v in [v for v in os.environ if v.lower() in proxies]:  # (a CI may set one)
        monkeypatch.delenv(v)


def test_unresolvable_hub_host_turns_the_hub_offline(monkeypatch):
    """Before: with no network, the hub retried 5 times per file with backoff (~50 s) before
    the same error; its offline mode answers from the cache at once."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # (a CI may export it)
    _no_dns(monkeypatch)
    assert network.unresolvable("https://huggingface.co/x").startswith("huggingface.co does not")
    assert constants.HF_HUB_OFFLINE is False
    with network.hub_fetch():
        assert constants.HF_HUB_OFFLINE is True
        assert socket.getdefaulttimeout() == network.STALL_TIMEOUT_S
    assert constants.HF_HUB_OFFLINE is False and socket.getdefaulttimeout() is None
    import urllib.request

    monkeypatch.setattr(urllib.request, "getproxies", lambda: {"no": "localhost"})
    assert network.unresolvable("https://huggingface.co/x") is not None  # no_proxy alone
    monkeypatch.setattr(urllib.request, "getproxies", lambda: {"https": "http://proxy:3128"})
    assert network.unresolvable("https://huggingface.co/x") is None  # a system proxy (macOS)
    monkeypatch.undo()
    _no_dns(monkeypatch)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # the proxy may resolve it
    assert network.unresolvable("https://huggingface.co/x") is None
    with network.hub_fetch():
        assert constants.HF_HUB_OFFLINE is False
