"""hst-gateway: a self-hostable RTC PaaS business gateway and its Python SDK.

The package root stays import-light on purpose: ``hstgw.sdk`` must import on a
machine that has only the SDK's dependencies installed.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
