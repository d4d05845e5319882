"""hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.

The Python API of each stage lives in its folder (see README "Where things live"); the names
most users need are exported here. They are imported on first use, so that `import hume_ssl`
(and the command line's start, where a Ctrl-C must find its handler) does not load torch.
"""

from hume_ssl.core.versions import __version__

_EXPORTS = {  # name: the module that defines it
    "ConsensusSelector": "hume_ssl.seeds.consensus",
    "Hume": "hume_ssl.hume",
    "HumeConfig": "hume_ssl.hume",
    "HumeSSLError": "hume_ssl.core.errors",
    "SeedSelector": "hume_ssl.seeds.selection",
    "SeedConfig": "hume_ssl.seeds.config",
    "extract_features": "hume_ssl.features.extract",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    import importlib
    import sys

    if name == "SelectionConfig":  # merged into SeedConfig; the old name for one release
        # `from hume_ssl import SelectionConfig`: importlib asks hasattr() first, then the
        # import statement itself gets the name, which warns (once, at the user's line)
        if not sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
            from hume_ssl.core.params import warn_renamed

            warn_renamed("SelectionConfig", "hume_ssl.seeds.config.SeedConfig")  # at the caller
        return importlib.import_module("hume_ssl.seeds.config").SeedConfig
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
