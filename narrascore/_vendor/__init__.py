"""Third-party code built and shipped with NarraScore (each subpackage keeps its own licence)."""
