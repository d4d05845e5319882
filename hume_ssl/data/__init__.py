"""Datasets by name (`datasets`: the registry, `load_dataset`) and images as arrays (`images`:
resize/crop, channel stats, splits). Below the registry: `builtin` (named datasets), `paths`,
`folder`, `npz` (datasets named by a path), `image_dataset`, `rgb`, `identity`."""
