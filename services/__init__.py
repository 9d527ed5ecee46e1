"""Universal Framework services. One sub-package per service plus `kit`, the shared kit."""

__version__ = "0.1.0"
