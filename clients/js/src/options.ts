/** TerminalClient's options, and the checks made on them before anything connects. */

import type { FetchLike, WebSocketConstructor } from "./types.js";

export interface TerminalClientOptions {
  /** The gateway's REST address (it is asked where terminals connect), or a ws(s):// URL. */
  url: string;
  appId: string;
  userId: string;
  /** A 001 token minted by the app's backend, or a function that fetches a fresh one. */
  token: string | (() => string | Promise<string>);
  companyId?: string;
  /** The kind of terminal (default "web"): a user is online once per mutex_type. */
  mutexType?: string;
  /** This terminal's id (REST: terminal_seq_num); default a random one. */
  clientGuid?: string;
  forceLogin?: boolean;
  customState?: string;
  extendInfo?: string;
  /** A resume credential of an earlier login (kept across a page reload): tried before the token. */
  resume?: string;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  reconnectDelaysMs?: readonly number[];
  maxReconnectAttempts?: number;
  /** Send heartbeats (default true). */
  heartbeat?: boolean;
  requestTimeoutMs?: number;
  /** The WebSocket class: the browser's by default; in Node 20, `WebSocket` of the `ws` package. */
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
  /** [0, 1): the back-off's jitter (tests give a fixed one). */
  random?: () => number;
}

export type ClientState = "idle" | "connecting" | "online" | "reconnecting" | "closed";

/** Throws a TypeError naming the field; the WebSocket class to use. */
export function checkOptions(options: TerminalClientOptions): WebSocketConstructor {
  if ("appSecret" in options || "app_secret" in options) {
    throw new TypeError("appSecret: a terminal never holds the app secret; give a token minted by the backend");
  }
  for (const field of ["url", "appId", "userId"] as const) {
    if (typeof options[field] !== "string" || !options[field]) throw new TypeError(`${field}: required`);
  }
  if (typeof options.token !== "string" && typeof options.token !== "function") {
    throw new TypeError("token: required (a string, or a function that fetches one)");
  }
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass) {
    throw new TypeError("WebSocket: none in this runtime; give options.WebSocket (in Node: the ws package's)");
  }
  return WebSocketClass;
}

export function randomGuid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID().replace(/-/g, "");
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
}

