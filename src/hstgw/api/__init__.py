"""The HTTP face of the gateway: thin routes over ``hstgw.gateway``."""

from hstgw.api.app import create_app

__all__ = ["create_app"]
