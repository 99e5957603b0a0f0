"""The HTTP surface of the controller (FastAPI). OpenAPI at /openapi.json is the contract."""
