"""Datasets by name (registry) and images as arrays (resize/crop, channel stats, splits)."""
