"""The SDK's resources, one module per REST resource."""

from hstgw.sdk.resources.apps import Apps, AsyncApps
from hstgw.sdk.resources.online import AsyncOnline, Online
from hstgw.sdk.resources.records import AsyncRecords, Records

__all__ = ["Apps", "AsyncApps", "AsyncOnline", "AsyncRecords", "Online", "Records"]
