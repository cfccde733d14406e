"""gradlab's HTTP service: thin FastAPI routes around the `engine` package."""
