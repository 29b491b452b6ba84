"""Environments: the .env files and their merge, the schema and its checks, environment names, the
secret scan of tracked files, and ``mask``, the one masking function every output goes through."""
