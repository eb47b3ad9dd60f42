"""SMTP delivery settings from the environment (prefix POLKU_SMTP_); secrets never live in files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseSettings):
    """Where and how e-mail is handed over: POLKU_SMTP_HOST, _PORT, _SECURITY, _USER, _PASSWORD, ..."""

    model_config = SettingsConfigDict(env_prefix="POLKU_SMTP_", extra="ignore")

    host: str | None = Field(default=None, description="SMTP relay; without one, e-mail waits in the outbox")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str | None = None
    password: SecretStr | None = None
    helo_name: str | None = Field(default=None, description="the name to greet the relay with (default: this host's)")
    timeout: float = Field(default=30.0, gt=0)
    connections: int = Field(default=16, ge=1, le=64, description="parallel SMTP sessions")
    in_doubt: Literal["hold", "resend"] = Field(
        default="hold", description="after a crash at the moment of hand-over: hold for review, or resend"
    )
    max_attempts: int = Field(default=8, ge=1)
