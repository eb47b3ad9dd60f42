"""The HTTP API: FastAPI app over a Workspace."""

from polku.api.app import create_app

__all__ = ["create_app"]
