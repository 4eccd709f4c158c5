"""The SDK's resources, one module per REST resource."""

from hstgw.sdk.resources.apps import Apps, AsyncApps

__all__ = ["Apps", "AsyncApps"]
