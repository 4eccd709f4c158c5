/**
 * TerminalClient: a terminal of the gateway's online service, in a browser or in Node.
 *
 *     const client = new TerminalClient({ url: "https://gw.example.com", appId, userId: "alice",
 *                                         token: () => fetchTokenFromMyBackend() });
 *     client.on("invite", (invite) => client.replyInvite(invite.group_id, invite.seq_id, true));
 *     await client.connect();
 *
 * It takes a token (or a function that fetches one from the app's backend), never the
 * app secret. A lost connection is re-established with back-off and logged in again
 * with the resume credential of the last login; a kick is final (but for the
 * gateway's `shutdown`, which a reconnect survives).
 */

import { TerminalCode } from "./codes.js";
import { openAndLogin, decodeFrame, noop, type Dialer } from "./connection.js";
import {
  DEFAULT_HEARTBEAT_INTERVAL_S,
  RECONNECT_DELAYS_MS,
  REQUEST_TIMEOUT_MS,
  reconnectDelay,
} from "./constants.js";
import {
  ClientCode,
  LoginError,
  ProtocolVersionError,
  TerminalConnectionError,
  TerminalError,
  TerminalTimeoutError,
  errorFromReply,
} from "./errors.js";
import { checkOptions, randomGuid, type ClientState, type TerminalClientOptions } from "./options.js";
import { TerminalRequests } from "./requests.js";
import type { KickedEvent, LoginReply, Reply, TerminalEvents, WebSocketLike } from "./types.js";

export type { ClientState, TerminalClientOptions };

const PUSHES = new Set(["online_state", "invite", "invite_reply", "message", "trans_cmd", "kicked"]);

interface Pending {
  settle(reply: Reply | null, error?: TerminalError): void;
}

export class TerminalClient extends TerminalRequests {
  readonly appId: string;
  readonly userId: string;
  readonly companyId: string;
  readonly mutexType: string;
  readonly clientGuid: string;
  forceLogin: boolean;
  customState: string;
  extendInfo: string;
  /** The gateway's heartbeat interval, from the last login reply. */
  heartbeatIntervalS = DEFAULT_HEARTBEAT_INTERVAL_S;
  /** The last login reply. */
  loginReply: LoginReply | null = null;
  /** The `kicked` push, once the gateway kicked this terminal. */
  kicked: KickedEvent | null = null;

  private readonly opts: TerminalClientOptions;
  private readonly dialer: Dialer;
  private ws: WebSocketLike | null = null;
  private seq = 0;
  private readonly waiting = new Map<number, Pending>();
  private current: ClientState = "idle";
  private resumeCredential: string | null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private wake: (() => void) | null = null;
  private closing = false;

  constructor(options: TerminalClientOptions) {
    super();
    const WebSocketClass = checkOptions(options);
    this.opts = options;
    this.appId = options.appId;
    this.userId = options.userId;
    this.companyId = options.companyId ?? "";
    this.mutexType = options.mutexType ?? "web";
    this.clientGuid = options.clientGuid ?? randomGuid();
    this.forceLogin = options.forceLogin ?? false;
    this.customState = options.customState ?? "";
    this.extendInfo = options.extendInfo ?? "";
    this.resumeCredential = options.resume ?? null;
    this.dialer = {
      url: options.url,
      WebSocket: WebSocketClass,
      fetch: options.fetch,
      timeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    };
  }

  get state(): ClientState {
    return this.current;
  }

  /** The credential the next login sends instead of a token (save it to survive a page reload). */
  get resume(): string | null {
    return this.resumeCredential;
  }

  /** The WebSocket of the current login: to watch it, or, in a test, to drop it as a network would. */
  get socket(): WebSocketLike | null {
    return this.ws;
  }

  /** Connect and log in; the login reply. Rejects with a LoginError, TerminalConnectionError, ... */
  async connect(): Promise<LoginReply> {
    if (this.current !== "idle" && this.current !== "closed") {
      throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `connect: the client is ${this.current}`, "login");
    }
    this.current = "connecting";
    this.closing = false;
    this.kicked = null;
    try {
      return await this.login(false);
    } catch (err) {
      this.current = "closed";
      throw err;
    }
  }

  async request(type: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const ws = this.ws;
    if (ws === null) throw new TerminalConnectionError(ClientCode.CONNECTION_CLOSED, "not connected", type);
    const seq = ++this.seq;
    const timeoutMs = this.dialer.timeoutMs;
    return await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => settle(null, new TerminalTimeoutError(type, timeoutMs)), timeoutMs);
      const settle = (reply: Reply | null, error?: TerminalError): void => {
        clearTimeout(timer);
        this.waiting.delete(seq);
        if (error) reject(error);
        else if (reply && reply.code === TerminalCode.OK) resolve(reply);
        else reject(errorFromReply(type, reply ?? {}));
      };
      this.waiting.set(seq, { settle });
      try {
        ws.send(JSON.stringify({ ...fields, type, seq }));
      } catch (err) {
        settle(null, new TerminalConnectionError(ClientCode.CONNECTION_CLOSED, String(err), type));
      }
    });
  }

  /** Log out and close for good (a `closed` event follows). */
  async close(): Promise<void> {
    if (this.current === "idle" || this.current === "closed" || this.closing) return;
    this.closing = true;
    this.wake?.();
    const ws = this.ws;
    if (ws !== null) {
      await this.request("logout").catch(noop); // the gateway then shows it offline at once
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
      this.gone(ws, 1000, "logout");
    } else {
      this.finish(1000, "logout");
    }
  }

  protected override stateChanged(customState: string): void {
    this.customState = customState; // a reconnect's login shows it again
  }

  // connecting

  private loginFrame(credential: { token: string } | { resume: string }): Record<string, unknown> {
    return {
      type: "login",
      seq: ++this.seq,
      app_id: this.appId,
      ...credential,
      user_id: this.userId,
      company_id: this.companyId,
      mutex_type: this.mutexType,
      client_guid: this.clientGuid,
      force_login: this.forceLogin,
      custom_state: this.customState,
      extend_info: this.extendInfo,
    };
  }

  private async token(): Promise<string> {
    const token = this.opts.token;
    if (typeof token === "string") return token;
    try {
      return await token();
    } catch (err) {
      throw new TerminalConnectionError(ClientCode.CONNECTION_FAILED, `token: fetching one failed: ${String(err)}`, "login");
    }
  }

  /** A login with the resume credential (a reconnect, a reload), else with a token. */
  private async open(): Promise<{ socket: WebSocketLike; reply: LoginReply }> {
    if (this.resumeCredential) {
      try {
        return await openAndLogin(this.dialer, this.loginFrame({ resume: this.resumeCredential }));
      } catch (err) {
        // a credential past its time (or forgotten by the gateway): a token instead
        if (!(err instanceof LoginError && err.code === TerminalCode.TOKEN_INVALID)) throw err;
        this.resumeCredential = null;
      }
    }
    return await openAndLogin(this.dialer, this.loginFrame({ token: await this.token() }));
  }

  private async login(reconnect: boolean): Promise<LoginReply> {
    const { socket, reply } = await this.open();
    if (this.closing) {
      socket.close(1000);
      throw new TerminalConnectionError(ClientCode.CONNECTION_CLOSED, "closed while logging in", "login");
    }
    this.ws = socket;
    this.loginReply = reply;
    this.resumeCredential = reply.resume || null; // a token logs in once: reconnects use this
    this.heartbeatIntervalS = reply.heartbeat_interval || DEFAULT_HEARTBEAT_INTERVAL_S;
    this.current = "online";
    socket.onmessage = (event) => this.frame(event.data);
    socket.onclose = (event) => this.gone(socket, event.code, event.reason);
    socket.onerror = noop; // a close event follows
    if (this.opts.heartbeat ?? true) {
      this.heartbeatTimer = setInterval(() => this.beat(socket), this.heartbeatIntervalS * 1000);
    }
    this.emit("login", { type: "login", reply, reconnect });
    return reply;
  }

  private frame(data: unknown): void {
    const message = decodeFrame(data);
    if (message === null || typeof message.type !== "string") return;
    if (message.type.endsWith("_result")) {
      this.waiting.get(message.seq as number)?.settle(message as unknown as Reply);
      return;
    }
    if (!PUSHES.has(message.type)) return; // a later protocol version's push
    if (message.type === "kicked") this.kicked = message as unknown as KickedEvent;
    const type = message.type as keyof TerminalEvents;
    this.emit(type, message as unknown as TerminalEvents[typeof type]);
  }

  private beat(socket: WebSocketLike): void {
    this.heartbeat().catch((err: unknown) => {
      // No reply in time: the network is gone without a close (a sleeping laptop, a
      // dead Wi-Fi). Do not wait for TCP to notice: drop it and reconnect now.
      if (err instanceof TerminalTimeoutError && this.ws === socket) {
        try {
          socket.close(4000, "heartbeat timed out");
        } catch {
          // already closing
        }
        this.gone(socket, 1006, "heartbeat timed out");
      }
    });
  }

  /** The socket of the current login closed (or is given up): reconnect, or finish. */
  private gone(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.ws) return;
    this.ws = null;
    socket.onmessage = socket.onclose = noop;
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    for (const pending of [...this.waiting.values()]) {
      pending.settle(null, new TerminalConnectionError(ClientCode.CONNECTION_CLOSED, `connection closed (${code})`));
    }
    if (this.closing) {
      this.finish(code, reason);
      return;
    }
    const kicked = this.kicked;
    // A gateway that stops kicks its terminals with `shutdown`; they come back to it.
    const reconnect = (this.opts.reconnect ?? true) && (kicked === null || kicked.reason === "shutdown");
    // (the state first: a `disconnected` listener must not read "online")
    this.current = reconnect ? "reconnecting" : "closed";
    this.emit("disconnected", { type: "disconnected", code, reason: kicked?.reason ?? reason, willReconnect: reconnect });
    if (!reconnect) {
      this.emit("closed", { type: "closed", code, reason: kicked?.reason ?? reason });
      return;
    }
    this.kicked = null;
    this.reconnect().catch((err: unknown) => {
      this.emit("reconnect_failed", { type: "reconnect_failed", error: asTerminalError(err) });
      this.finish(1006, "reconnect failed");
    });
  }

  private async reconnect(): Promise<void> {
    const delays = this.opts.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    const attempts = this.opts.maxReconnectAttempts ?? Infinity;
    let last: TerminalError = new TerminalConnectionError(ClientCode.CONNECTION_FAILED, "no attempt");
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const delayMs = reconnectDelay(attempt, delays, this.opts.random);
      this.emit("reconnecting", { type: "reconnecting", attempt, delayMs });
      await this.sleep(delayMs);
      if (this.closing) return;
      let reply: LoginReply;
      try {
        reply = await this.login(true);
      } catch (err) {
        if (this.closing) return;
        last = asTerminalError(err);
        if (last instanceof LoginError && last.code === TerminalCode.ALREADY_ONLINE) {
          this.forceLogin = true; // our last connection may not be seen as gone yet: take its place
          continue;
        }
        if (last instanceof LoginError || last instanceof ProtocolVersionError) {
          const retry = last.code === TerminalCode.BUSY || last.code === TerminalCode.TOO_MANY_LOGINS;
          if (retry) continue;
          break;
        }
        continue; // the network or the gateway is down: try again later
      }
      this.emit("reconnected", { type: "reconnected", reply });
      if (this.groups.size > 0) {
        this.rejoin().catch((err: unknown) =>
          this.emit("rejoin_failed", { type: "rejoin_failed", error: asTerminalError(err) }),
        );
      }
      return;
    }
    this.emit("reconnect_failed", { type: "reconnect_failed", error: last });
    this.finish(last instanceof LoginError ? 4000 : 1006, last.msg);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  private finish(code: number, reason: string): void {
    if (this.current === "closed") return;
    this.current = "closed";
    this.emit("closed", { type: "closed", code, reason });
  }
}

function asTerminalError(err: unknown): TerminalError {
  return err instanceof TerminalError ? err : new TerminalError(TerminalCode.INTERNAL, String(err));
}
