"""Downloads that end: a stalled connection fails after a timeout instead of hanging, and a
machine that cannot resolve the Hugging Face hub's host reads the hub's cache only (the hub's
own retries take ~50 s there before the same error)."""

from __future__ import annotations

import os
import socket
import urllib.request
from contextlib import contextmanager
from typing import Iterator, Optional
from urllib.parse import urlsplit

STALL_TIMEOUT_S = 60.0  # seconds a download's socket may wait for data before it fails
PROXY_KINDS = {"http", "https", "all"}  # proxies a download may go through (no_proxy is not one)


def unresolvable(url: str) -> Optional[str]:
    """Why `url`'s host cannot be reached, when its name does not resolve and no proxy is set
    (a proxy may resolve names this machine cannot: the *_proxy variables, or the system's
    settings on macOS and Windows, as urllib reads them for the hub's and torch.hub's clients);
    None otherwise."""
    if PROXY_KINDS & set(urllib.request.getproxies()):
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    try:
        socket.getaddrinfo(host, 443)
    except OSError as e:  # socket.gaierror: no DNS, no network
        return f"{host} does not resolve ({e})"
    return None


def cached_or_reachable(url: str) -> Optional[str]:
    """Why torch.hub cannot get `url` (torchvision's pretrained weights): its file is not in
    torch.hub's cache and its host is `unresolvable`; None when it is cached or may be fetched.
    Checked before the download, which prints "Downloading: ..." before it fails."""
    import torch

    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlsplit(url).path))
    return None if os.path.isfile(cached) else unresolvable(url)


@contextmanager
def stall_timeout(seconds: float = STALL_TIMEOUT_S) -> Iterator[None]:
    """Sockets opened inside without a timeout of their own (torch.hub's and torchvision's
    urlopen) wait at most `seconds` for each read; a timeout the process set is kept."""
    before = socket.getdefaulttimeout()
    if before is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


@contextmanager
def hub_fetch() -> Iterator[None]:
    """Around a Hugging Face hub download (timm's pretrained weights): with the hub's host
    unresolvable, the hub runs in its offline mode (HF_HUB_OFFLINE: the cache or an error at
    once); reads time out as in `stall_timeout`."""
    try:
        from huggingface_hub import constants
    except ImportError:  # timm without the hub fetches by URL (torch.hub)
        constants = None
    offline = constants is not None and unresolvable(constants.ENDPOINT) is not None
    before = constants.HF_HUB_OFFLINE if constants is not None else None
    if offline:
        constants.HF_HUB_OFFLINE = True
    try:
        with stall_timeout():
            yield
    finally:
        if offline:
            constants.HF_HUB_OFFLINE = before
