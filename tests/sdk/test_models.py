"""The SDK's models."""

from __future__ import annotations

from hstgw.sdk import App, Service


def test_an_apps_repr_does_not_show_its_secret() -> None:
    app = App("a" * 32, "S3cretS3cret0000", "demo", "online", None, (Service(7, "在线服务"),))
    assert "S3cretS3cret0000" not in repr(app) and "app_secret" not in repr(app)
    assert repr(app).startswith(f"App(app_id='{'a' * 32}', app_name='demo', status='online'")
    assert "S3cretS3cret0000" not in str([app])
    assert app.app_secret == "S3cretS3cret0000"
