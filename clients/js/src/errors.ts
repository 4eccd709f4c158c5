/**
 * The SDK's errors. Every failure the SDK reports is one of these, with a `code`:
 *
 *     TerminalError                 code: a TerminalCode (the gateway's) or a ClientCode (ours)
 *     ├── LoginError                the gateway refused the login (1000000 token, 1000001 app, ...)
 *     ├── TerminalConnectionError   no connection: the gateway is down or unreachable, or it went
 *     ├── TerminalTimeoutError      no reply within the request timeout
 *     └── ProtocolVersionError      the gateway speaks a protocol version this SDK does not
 *
 * `errorFromReply` maps a reply's code to its class, in one place.
 */

import { TERMINAL_CODE_MSG, TerminalCode } from "./codes.js";

/** Codes of failures the gateway did not answer (negative: never a gateway's). */
export const ClientCode = {
  /** The WebSocket (or the address call) could not be opened. */
  CONNECTION_FAILED: -1,
  /** The connection closed while a request waited, or no connection is open. */
  CONNECTION_CLOSED: -2,
  /** No reply within `requestTimeoutMs`. */
  TIMEOUT: -3,
  /** The gateway announced a protocol version this SDK does not speak. */
  PROTOCOL_UNSUPPORTED: -4,
  /** The address call answered something that is not the gateway's reply. */
  BAD_ADDRESS_REPLY: -5,
} as const;

export type ClientCodeValue = (typeof ClientCode)[keyof typeof ClientCode];

export class TerminalError extends Error {
  /** The gateway's code (TerminalCode) or, for a failure it did not answer, a ClientCode. */
  readonly code: number;
  /** The gateway's `msg`, or ours. */
  readonly msg: string;
  /** The request that failed (`login`, `invite`, ...), when there was one. */
  readonly request: string | undefined;

  constructor(code: number, msg: string, request?: string) {
    super(`${code} ${msg}${request ? ` (${request})` : ""}`);
    this.name = new.target.name;
    this.code = code;
    this.msg = msg;
    this.request = request;
  }
}

export class LoginError extends TerminalError {}

export class TerminalConnectionError extends TerminalError {}

export class TerminalTimeoutError extends TerminalError {
  constructor(request: string, timeoutMs: number) {
    super(ClientCode.TIMEOUT, `no reply within ${timeoutMs} ms`, request);
  }
}

export class ProtocolVersionError extends TerminalError {
  /** The version the gateway announced. */
  readonly protocol: unknown;

  constructor(protocol: unknown, supported: readonly number[]) {
    super(
      ClientCode.PROTOCOL_UNSUPPORTED,
      `the gateway speaks protocol ${JSON.stringify(protocol)}; this SDK speaks ${supported.join(", ")}`,
    );
    this.protocol = protocol;
  }
}

/** The error for a reply with a non-zero code: a LoginError for a login, else a TerminalError. */
export function errorFromReply(request: string, reply: { code?: unknown; msg?: unknown }): TerminalError {
  const code = typeof reply.code === "number" ? reply.code : TerminalCode.MALFORMED;
  const msg = typeof reply.msg === "string" && reply.msg ? reply.msg : (TERMINAL_CODE_MSG[code] ?? "");
  return request === "login" ? new LoginError(code, msg, request) : new TerminalError(code, msg, request);
}
