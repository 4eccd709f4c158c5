"""The Python SDK for hst-gateway.

Installs with the base package alone (``pip install hst-gateway``): httpx and
cryptography, no server dependencies.
"""

from hstgw.sdk._client import AsyncClient, Client
from hstgw.sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    HstgwError,
    InvalidParameterError,
    MissingParameterError,
    OperationFailedError,
    RequestTimeoutError,
    SystemBusyError,
    TokenExpiredError,
    WebhookVerificationError,
)
from hstgw.sdk._models import (
    AccessToken,
    App,
    AppTotal,
    Record,
    Service,
    Summary,
    TerminalState,
    TermTotal,
    TransCmdResult,
    Webhook,
    WebhookDelivery,
    WebhookRedelivery,
)
from hstgw.sdk._pagination import AsyncPage, SyncPage
from hstgw.sdk._terminal_token import terminal_token
from hstgw.sdk._token_store import FileTokenStore, StoredToken, TokenStore
from hstgw.sdk.terminal import TerminalClient, TerminalError, TerminalLoginError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "App",
    "AppTotal",
    "AsyncClient",
    "AsyncPage",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "FileTokenStore",
    "HstgwError",
    "InvalidParameterError",
    "MissingParameterError",
    "OperationFailedError",
    "Record",
    "RequestTimeoutError",
    "Service",
    "StoredToken",
    "Summary",
    "SyncPage",
    "SystemBusyError",
    "TermTotal",
    "TerminalClient",
    "TerminalError",
    "TerminalLoginError",
    "TerminalState",
    "TokenExpiredError",
    "TokenStore",
    "TransCmdResult",
    "Webhook",
    "WebhookDelivery",
    "WebhookRedelivery",
    "WebhookVerificationError",
    "terminal_token",
]
