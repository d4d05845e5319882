"""hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch.

The Python API of each stage lives in its folder (see README "Where things live"); the names
most users need are exported here.
"""

__version__ = "0.1.0"

from hume_ssl.core.errors import HumeSSLError  # noqa: E402
from hume_ssl.features.extract import extract_features  # noqa: E402
from hume_ssl.hume import Hume, HumeConfig  # noqa: E402
from hume_ssl.seeds.selection import SeedSelector, SelectionConfig  # noqa: E402

__all__ = [
    "Hume",
    "HumeConfig",
    "HumeSSLError",
    "SeedSelector",
    "SelectionConfig",
    "__version__",
    "extract_features",
]
