"""The SDK's numbers, in one place."""

DEFAULT_BASE_URL = "http://127.0.0.1:28000"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
# Page sizes when the caller names none: the server's own (apps 20; others 100, the most).
DEFAULT_APPS_PAGE_SIZE = 20
DEFAULT_PAGE_SIZE = 100
DEFAULT_WEBHOOKS_PAGE_SIZE = 20  # the server's own, as for apps
DEFAULT_ONLINE_PAGE_SIZE = 20  # a terminal's list_online
# The terminal client: its token request, reconnection back-off, and the heartbeat
# interval until the gateway's login reply gives one.
TERMINAL_REQUEST_TIMEOUT_S = 10.0
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
DEFAULT_HEARTBEAT_INTERVAL_S = 30.0
# The event gateway client's heartbeat (20010).
EVENT_HEARTBEAT_S = 30.0
# Refresh an access_token this long before it expires (never less than half its life).
REFRESH_AHEAD_S = 300.0
# A token store's lock (another process fetching): tried this often, waited this long
# at most (a fetch takes milliseconds), then the token is fetched without it.
STORE_LOCK_TRY_S = 0.02
STORE_LOCK_WAIT_S = 5.0

ENV_BASE_URL = "HSTGW_BASE_URL"
ENV_DEV_ID = "HSTGW_DEV_ID"
ENV_DEV_SECRET = "HSTGW_DEV_SECRET"
# A file where the processes of one machine share the developer's access_token.
ENV_TOKEN_FILE = "HSTGW_TOKEN_FILE"

# Methods whose repetition changes nothing more than their first run.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Sent with an Idempotency-Key (one per call, the same on each retry).
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})
