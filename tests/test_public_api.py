"""The public surface is exactly what we mean to export."""

from __future__ import annotations

import polku


def test_exported_names() -> None:
    assert set(polku.__all__) == {
        "BatchResult", "ConfigError", "Forbidden", "ImportRejected", "ImportResult", "InvalidInput",
        "NotFound", "PayloadTooLarge", "PolkuError", "Unauthorized", "Workspace", "WorkspaceLocked",
        "__version__",
    }
    for name in polku.__all__:
        assert hasattr(polku, name)


def test_errors_carry_http_statuses() -> None:
    assert {e.__name__: e.status for e in (polku.InvalidInput, polku.NotFound, polku.Unauthorized,
                                           polku.Forbidden, polku.PayloadTooLarge, polku.WorkspaceLocked)} == {
        "InvalidInput": 422, "NotFound": 404, "Unauthorized": 401, "Forbidden": 403,
        "PayloadTooLarge": 413, "WorkspaceLocked": 409,
    }
    assert issubclass(polku.ImportRejected, polku.InvalidInput)
