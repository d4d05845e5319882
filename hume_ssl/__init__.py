"""hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.

The Python API of each stage lives in its folder (see README "Where things live"); the names
most users need are exported here.
"""

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.versions import __version__
from hume_ssl.features.extract import extract_features
from hume_ssl.hume import Hume, HumeConfig
from hume_ssl.seeds.config import SeedConfig
from hume_ssl.seeds.consensus import ConsensusSelector
from hume_ssl.seeds.selection import SeedSelector

__all__ = [
    "ConsensusSelector",
    "Hume",
    "HumeConfig",
    "HumeSSLError",
    "SeedSelector",
    "SeedConfig",
    "__version__",
    "extract_features",
]


def __getattr__(name: str):
    if name == "SelectionConfig":  # merged into SeedConfig; the old name for one release
        from hume_ssl.core.params import warn_renamed

        warn_renamed("SelectionConfig", "hume_ssl.seeds.config.SeedConfig")  # at the caller
        return SeedConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
