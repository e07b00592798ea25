"""Designer .ui files loaded at runtime and thin widget classes."""
