"""The HTTP API: the FastAPI app (the same in Lambda and `cutout serve`) and API keys."""
