"""Build-time tools (proto generation, schema compatibility): never imported by a running service."""
