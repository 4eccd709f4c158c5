/**
 * One connection: find where terminals connect (the REST address call), open the
 * WebSocket, and log in. Every failure is a typed error (errors.ts); nothing here
 * leaves a promise rejected without a taker.
 */

import { PROTOCOL_VERSIONS, TerminalCode } from "./codes.js";
import { ADDRESS_PATH } from "./constants.js";
import {
  ClientCode,
  ProtocolVersionError,
  TerminalConnectionError,
  TerminalError,
  TerminalTimeoutError,
  errorFromReply,
} from "./errors.js";
import type { FetchLike, LoginReply, WebSocketConstructor, WebSocketLike } from "./types.js";

export interface Dialer {
  url: string;
  WebSocket: WebSocketConstructor;
  fetch: FetchLike | undefined;
  timeoutMs: number;
}

function checkProtocol(protocol: unknown): void {
  if (typeof protocol !== "number" || !PROTOCOL_VERSIONS.includes(protocol)) {
    throw new ProtocolVersionError(protocol, PROTOCOL_VERSIONS);
  }
}

/** The WebSocket URL: `url` itself if it is one, else what the gateway's REST port says. */
export async function discover(dialer: Dialer): Promise<string> {
  if (/^wss?:\/\//i.test(dialer.url)) return dialer.url;
  if (!/^https?:\/\//i.test(dialer.url)) {
    throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `url: must start with http(s):// or ws(s)://`);
  }
  const fetchFn = dialer.fetch ?? (globalThis.fetch as FetchLike | undefined);
  if (!fetchFn) {
    throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, "no fetch to ask the address with: give a ws:// url");
  }
  const address = `${dialer.url.replace(/\/+$/, "")}${ADDRESS_PATH}`;
  const body = await askAddress(fetchFn, address, dialer.timeoutMs);
  const result = (body as { code?: unknown; result?: { ws_url?: unknown; protocol?: unknown } } | null) ?? {};
  if (result.code !== 0 || typeof result.result?.ws_url !== "string") {
    throw new TerminalConnectionError(ClientCode.BAD_ADDRESS_REPLY, `${address}: not the gateway's address reply`);
  }
  checkProtocol(result.result.protocol);
  return result.result.ws_url;
}

/** The address call's JSON body, within `timeoutMs` (a host that never answers must not hang connect()). */
async function askAddress(fetchFn: FetchLike, address: string, timeoutMs: number): Promise<unknown> {
  const controller = typeof AbortController === "function" ? new AbortController() : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller?.abort();
      reject(new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${address}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const ask = async (): Promise<unknown> => {
    let response: Awaited<ReturnType<FetchLike>>;
    try {
      response = await fetchFn(address, controller ? { signal: controller.signal } : undefined);
    } catch (err) {
      throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${address}: ${String(err)}`);
    }
    if (!response.ok) {
      throw new TerminalConnectionError(ClientCode.BAD_ADDRESS_REPLY, `${address}: HTTP ${response.status}`);
    }
    try {
      return await response.json();
    } catch {
      // an HTML page, a proxy's error: something answered, but not the gateway
      throw new TerminalConnectionError(ClientCode.BAD_ADDRESS_REPLY, `${address}: not the gateway's address reply (not JSON)`);
    }
  };
  try {
    return await Promise.race([ask(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function decode(data: unknown): Record<string, unknown> | null {
  const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

export { decode as decodeFrame };

export function noop(): void {}

/** Open a WebSocket and log in with `loginFrame`; the socket (its handlers cleared) and the reply. */
export async function openAndLogin(
  dialer: Dialer,
  loginFrame: Record<string, unknown>,
): Promise<{ socket: WebSocketLike; reply: LoginReply }> {
  const wsUrl = await discover(dialer);
  let socket: WebSocketLike;
  try {
    socket = new dialer.WebSocket(wsUrl);
  } catch (err) {
    throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${wsUrl}: ${String(err)}`);
  }
  return await new Promise((resolve, reject) => {
    let opened = false;
    const finish = (err: TerminalError | null, reply?: LoginReply): void => {
      clearTimeout(timer);
      // (no-ops, not null: a `ws` socket without an error listener throws its next error)
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = noop;
      if (err) {
        try {
          socket.close();
        } catch {
          // closing a socket that never opened: nothing to do
        }
        reject(err);
      } else {
        resolve({ socket, reply: reply as LoginReply });
      }
    };
    const timer = setTimeout(
      () =>
        finish(
          opened
            ? new TerminalTimeoutError("login", dialer.timeoutMs)
            : new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${wsUrl}: not open within ${dialer.timeoutMs} ms`),
        ),
      dialer.timeoutMs,
    );
    socket.onopen = () => {
      opened = true;
      try {
        socket.send(JSON.stringify(loginFrame));
      } catch (err) {
        finish(new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${wsUrl}: ${String(err)}`));
      }
    };
    socket.onerror = () => {
      // a close event follows, with its code; a socket that never opened may have none
      if (!opened) finish(new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `${wsUrl}: cannot connect`));
    };
    socket.onclose = (event) => {
      const code = opened ? ClientCode.CONNECTION_CLOSED : ClientCode.CONNECTION_FAILED;
      finish(new TerminalConnectionError(code, `${wsUrl}: closed (${event.code}) before the login reply`));
    };
    socket.onmessage = (event) => {
      const reply = decode(event.data);
      if (reply === null || reply.type !== "login_result") {
        finish(new LoginReplyMissing(wsUrl));
        return;
      }
      if (reply.code !== TerminalCode.OK) {
        finish(errorFromReply("login", reply));
        return;
      }
      try {
        checkProtocol(reply.protocol);
      } catch (err) {
        finish(err as TerminalError);
        return;
      }
      finish(null, reply as unknown as LoginReply);
    };
  });
}

class LoginReplyMissing extends TerminalConnectionError {
  constructor(wsUrl: string) {
    super(ClientCode.BAD_ADDRESS_REPLY, `${wsUrl}: the first frame was not a login reply`, "login");
  }
}
