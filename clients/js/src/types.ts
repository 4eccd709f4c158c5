/** The frames of the terminal protocol (docs/terminal-protocol.md) and the SDK's events. */

import type { KickReason } from "./codes.js";
import type { TerminalError } from "./errors.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Any reply: `{type: "<request>_result", seq, code, msg, ...result}`. */
export interface Reply {
  type: string;
  seq: number;
  code: number;
  msg: string;
  [field: string]: unknown;
}

export interface LoginReply extends Reply {
  heartbeat_interval: number;
  protocol: number;
  /** The credential a reconnect logs in with instead of a token. */
  resume: string;
  resume_ttl: number;
}

export interface OnlineUser {
  user_id: string;
  mutex_type: string;
  client_guid: string;
  custom_state: string;
}

export interface OnlinePage {
  total: number;
  page: number;
  page_size: number;
  users: OnlineUser[];
}

export interface Inviter {
  user_id?: string;
  mutex_type?: string;
  client_guid?: string;
  custom_state?: string;
  /** True when the app's backend invited (POST /v1/online/invite). */
  backend?: boolean;
}

// Pushes from the gateway.

export interface OnlineStateEvent extends OnlineUser {
  type: "online_state";
  /** 1 online, 0 offline. */
  state: 0 | 1;
}

export interface InviteEvent {
  type: "invite";
  group_id: string;
  seq_id: number;
  extend_info: JsonObject | null;
  inviter: Inviter;
}

export interface InviteReplyEvent extends OnlineUser {
  type: "invite_reply";
  group_id: string;
  seq_id: number;
  accept: boolean;
  extend_info: JsonObject | null;
}

export interface TerminalMessageEvent {
  type: "message";
  from_user_id: string;
  from_mutex_type: string;
  from_client_guid: string;
  body: JsonObject | string;
}

export interface TransCmdEvent {
  type: "trans_cmd";
  msg_id: number;
  trans_mess: JsonObject;
}

export interface KickedEvent {
  type: "kicked";
  reason: KickReason;
  msg: string;
}

// The SDK's own events.

export interface LoginEvent {
  type: "login";
  reply: LoginReply;
  /** True when this login was a reconnect's. */
  reconnect: boolean;
}

/** A group this terminal joined or left, or media it started or stopped (also when taken up again after a reconnect). */
export interface GroupEvent {
  type: "group";
  action: "joined" | "left" | "media_started" | "media_stopped";
  group_id: string;
  media_id?: string;
  media_type?: number;
  /** The app's event version of it (docs/events.md). */
  version: number;
}

export interface DisconnectedEvent {
  type: "disconnected";
  /** The WebSocket close code (1006: the network, 4001: kicked, ...). */
  code: number;
  reason: string;
  willReconnect: boolean;
}

export interface ReconnectingEvent {
  type: "reconnecting";
  attempt: number;
  delayMs: number;
}

export interface ReconnectedEvent {
  type: "reconnected";
  reply: LoginReply;
}

export interface FailedEvent {
  type: "reconnect_failed" | "rejoin_failed";
  error: TerminalError;
}

/** The client is done: logged out, kicked, or it could not log in again. */
export interface ClosedEvent {
  type: "closed";
  code: number;
  reason: string;
}

export interface TerminalEvents {
  login: LoginEvent;
  online_state: OnlineStateEvent;
  invite: InviteEvent;
  invite_reply: InviteReplyEvent;
  message: TerminalMessageEvent;
  trans_cmd: TransCmdEvent;
  kicked: KickedEvent;
  group: GroupEvent;
  disconnected: DisconnectedEvent;
  reconnecting: ReconnectingEvent;
  reconnected: ReconnectedEvent;
  reconnect_failed: FailedEvent;
  rejoin_failed: FailedEvent;
  closed: ClosedEvent;
}

export type TerminalEventName = keyof TerminalEvents;
export type Listener<K extends TerminalEventName> = (event: TerminalEvents[K]) => void;

/** media_type: 0 screen share, 1 audio, 2 video, 4 whiteboard. */
export const MediaType = { SCREEN: 0, AUDIO: 1, VIDEO: 2, WHITEBOARD: 4 } as const;
export type MediaTypeValue = (typeof MediaType)[keyof typeof MediaType];

/**
 * An event handler property. Declared as a method so that its parameter is compared
 * both ways: the browser's `(ev: Event) => any` and the ws package's handlers are
 * assignable although they name a narrower event than the SDK reads.
 */
export type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** What the SDK needs of a WebSocket: the browser's, or one of the `ws` package in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** What the SDK needs of `fetch` (the address call); it passes a signal to abort a call that takes too long. */
export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;
