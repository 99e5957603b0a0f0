"""The lab: an emulated POD in network namespaces (see `build`, `plan`, `supervisor`)."""
