"""Batched on-device augmentations: FixMatch's weak/strong (randaugment) and SSL views."""
