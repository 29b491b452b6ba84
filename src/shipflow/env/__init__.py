"""Environments: the .env files, their schema, checks, secret scanning and the one masking function."""
