/** The SDK's numbers, in one place (the same as the Python TerminalClient's). */

/** A request's reply, the login's included, must come within this. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** Waits before each reconnect attempt; the last repeats. Each is jittered by ±25 %. */
export const RECONNECT_DELAYS_MS: readonly number[] = [200, 500, 1_000, 2_000, 5_000, 10_000];
/** The heartbeat interval until a login reply gives the gateway's own. */
export const DEFAULT_HEARTBEAT_INTERVAL_S = 30;
/** A list_online page when the caller names no size (the gateway's own default). */
export const DEFAULT_ONLINE_PAGE_SIZE = 20;
/** Where the REST port says terminals connect. */
export const ADDRESS_PATH = "/v1/online/address";

/** The wait before reconnect attempt `attempt` (1, 2, ...), `random()` in [0, 1) for the jitter. */
export function reconnectDelay(
  attempt: number,
  delays: readonly number[] = RECONNECT_DELAYS_MS,
  random: () => number = Math.random,
): number {
  const base = delays[Math.min(Math.max(attempt, 1), delays.length) - 1] ?? 0;
  return Math.round(base * (0.75 + random() / 2));
}
