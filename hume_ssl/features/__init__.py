"""Frozen-backbone features of every image, cached on disk (index-safe, resumable)."""

from hume_ssl.features.extract import (
    FeatureSet,
    cached_features,
    default_cache_dir,
    extract_features,
)

__all__ = ["FeatureSet", "cached_features", "default_cache_dir", "extract_features"]
