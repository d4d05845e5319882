"""Frozen-backbone features of every image, cached on disk (index-safe, resumable)."""

from hume_ssl.features.cache import FeatureSet, cached_features, default_cache_dir
from hume_ssl.features.extract import extract_features

__all__ = ["FeatureSet", "cached_features", "default_cache_dir", "extract_features"]
