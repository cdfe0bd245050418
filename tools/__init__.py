"""Developer commands: ``python -m tools.devserver`` (make run), ``python -m tools.mint_token``."""
