"""hume-ssl: unlabeled images -> HUME labelings -> reliable seeds -> FixMatch."""

__version__ = "0.1.0"

from hume_ssl.errors import HumeSSLError  # noqa: E402
from hume_ssl.hume import Hume, HumeConfig  # noqa: E402

__all__ = ["Hume", "HumeConfig", "HumeSSLError", "__version__"]
