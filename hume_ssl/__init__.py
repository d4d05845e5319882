"""hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.

The Python API of each stage lives in its folder (see README "Where things live"); the names
most users need are exported here.
"""

from hume_ssl.core.errors import HumeSSLError
from hume_ssl.core.versions import __version__
from hume_ssl.features.extract import extract_features
from hume_ssl.hume import Hume, HumeConfig
from hume_ssl.seeds.selection import SeedSelector, SelectionConfig

__all__ = [
    "Hume",
    "HumeConfig",
    "HumeSSLError",
    "SeedSelector",
    "SelectionConfig",
    "__version__",
    "extract_features",
]
