"""The wire protocol: HTTP (ASGI), SigV4 verification, JSON 1.1 dispatch and model-driven
validation."""
