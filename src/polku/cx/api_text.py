"""Feedback-text routes: GET /v1/cx/feedback (the topic report) and POST /v1/cx/sentiment (score texts)."""

# No `from __future__ import annotations`: FastAPI reads the parameter types from the annotations.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from polku.cx.text import ops
from polku.cx.text.names import DEFAULT_SAMPLE
from polku.workspace import Workspace

API_MAX_SAMPLE: Final = 10_000  # e5 runs at tens of texts per second; bound one request's work


class SentimentIn(BaseModel):
    """Texts to score; limits (count, length, blank texts) are checked by ``ops.check_texts`` with named items."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(description=f"1 to {ops.MAX_TEXTS} texts of at most {ops.MAX_CHARS:,} characters each")
    model: str = Field(default="auto", description="auto, e5, fast or vader")
    languages: list[str | None] | None = Field(default=None, description="one language (en, fi) or null per text")


def add_routes(app: FastAPI, ws: Workspace, scope: Callable[[str], Any], fresh: Callable[..., Any]) -> None:
    """GET /v1/cx/feedback and POST /v1/cx/sentiment, read scope."""

    @app.get("/v1/cx/feedback", tags=["cx"], dependencies=[Depends(scope("read")), Depends(fresh)])
    async def cx_feedback(
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        account: str | None = None,
        model: str = "auto",
        sample: Annotated[int, Query(ge=1, le=API_MAX_SAMPLE)] = DEFAULT_SAMPLE,
        seed: Annotated[int, Query(ge=0)] = 0,
        tickets: bool = True,
    ) -> dict[str, Any]:
        """Topics of survey comments and tickets with volume, sentiment, keywords, quotes and NPS effects."""
        return await run_in_threadpool(lambda: ops.feedback(ws, start=start, end=end, account=account, model=model,
                                                            sample=sample, seed=seed, tickets=tickets))

    @app.post("/v1/cx/sentiment", tags=["cx"], dependencies=[Depends(scope("read"))])
    async def cx_sentiment(body: SentimentIn) -> dict[str, Any]:
        """Sentiment (label and score in [-1, 1]) of up to 100 texts, with each text's likely topic under e5."""
        return await run_in_threadpool(lambda: ops.score_texts(body.texts, model=body.model, languages=body.languages))
