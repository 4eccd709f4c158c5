// Compiled (not run) by `npm test`: the published types let a caller write this, and
// refuse what it must not (each @ts-expect-error line must be an error).
import {
  LoginError,
  TerminalClient,
  TerminalCode,
  type InviteEvent,
  type LoginReply,
  type TerminalError,
  type WebSocketConstructor,
} from "../dist/index.js";
import NodeWebSocket from "ws";

declare const WebSocket: WebSocketConstructor; // the browser's, or the ws package's

const client = new TerminalClient({ url: "http://127.0.0.1:28000", appId: "a", userId: "u", token: () => "001", WebSocket });
// The classes a caller really has: the browser's (lib.dom) and fetch, and in Node the ws package's (@types/ws).
const options = { url: "http://127.0.0.1:28000", appId: "a", userId: "u", token: "001" };
new TerminalClient({ ...options, WebSocket: globalThis.WebSocket, fetch: globalThis.fetch });
new TerminalClient({ ...options, WebSocket: NodeWebSocket });
client.on("invite", (invite: InviteEvent) => void client.replyInvite(invite.group_id, invite.seq_id, true));
client.on("kicked", (kicked) => kicked.reason satisfies "kickout" | "force_login" | "app_offline" | "app_deleted" | "service_removed" | "heartbeat_timeout" | "shutdown" | "developer_disabled");
client.on("message", (message) => message.body);
client.on("group", (group) => group.version + 1);
client.on("closed", (closed) => closed.code);
// @ts-expect-error: no such event
client.on("no_such_event", () => undefined);
// @ts-expect-error: a terminal never holds the app secret
new TerminalClient({ url: "u", appId: "a", userId: "u", token: "001", appSecret: "s" });

async function use(): Promise<void> {
  const reply: LoginReply = await client.connect();
  reply.resume.toUpperCase();
  const failed: string[] = await client.invite("room", ["bob"], 1);
  const delivered: number = await client.sendMessage("bob", { text: "hi" });
  const version: number = await client.joinGroup("room");
  void [failed, delivered, version];
  try {
    await client.listOnline();
  } catch (err) {
    if (err instanceof LoginError && err.code === TerminalCode.TOKEN_INVALID) (err satisfies TerminalError).msg.trim();
  }
}
void use;
