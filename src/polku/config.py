"""Settings, from the environment (prefix POLKU_) or arguments."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the workspace lives and how the server listens (each also a CLI option)."""

    model_config = SettingsConfigDict(env_prefix="POLKU_")

    home: Path = Path("polku-data")
    host: str = "127.0.0.1"
    port: int = 8480
    refresh_seconds: float = 2.0
