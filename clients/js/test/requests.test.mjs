// Every request and every push, against a real `hstgw serve`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { LoginError, MediaType, TerminalCode, TerminalError } from "../dist/index.js";
import { Gateway } from "./harness.mjs";
import { eventually, nextEvent, terminal } from "./helpers.mjs";

let gw;
let app;
before(async () => {
  gw = await Gateway.start();
  app = await gw.createApp("js_requests");
});
after(async () => await gw?.stop());

test("login: the reply, its event, and the terminal online for the backend", async () => {
  const alice = terminal(gw, app, "alice", { companyId: "acme", customState: "free", clientGuid: "g-alice" });
  const seen = nextEvent(alice, "login");
  const reply = await alice.connect();
  assert.equal(reply.code, 0);
  assert.equal(reply.protocol, 1);
  assert.equal(reply.heartbeat_interval, 1);
  assert.match(reply.resume, /^[0-9a-f]{32}$/);
  assert.equal(alice.state, "online");
  assert.equal(alice.resume, reply.resume);
  assert.deepEqual((await seen).reconnect, false);
  const online = await gw.online(app.app_id, "alice");
  assert.deepEqual(online.map((t) => [t.terminal_seq_num, t.mutex_type]), [["g-alice", "web"]]);
  await alice.close();
  assert.equal(alice.state, "closed");
  await eventually(async () => (await gw.online(app.app_id, "alice")).length === 0);
});

test("list_online, set_state and the online_state pushes", async () => {
  const a = terminal(gw, app, "lister_a", { companyId: "c1" });
  const b = terminal(gw, app, "lister_b", { companyId: "c1", mutexType: "windows" });
  await a.connect();
  const cameOnline = nextEvent(a, "online_state", (e) => e.user_id === "lister_b" && e.state === 1);
  await b.connect();
  assert.equal((await cameOnline).mutex_type, "windows");
  const page = await a.listOnline(1, 1);
  assert.deepEqual([page.total, page.page, page.page_size, page.users.length], [2, 1, 1, 1]);
  assert.equal(page.users[0].user_id, "lister_a");
  const busy = nextEvent(a, "online_state", (e) => e.custom_state === "busy");
  await b.setState("busy");
  assert.deepEqual([(await busy).user_id, (await busy).state], ["lister_b", 1]);
  assert.equal(b.customState, "busy"); // a reconnect logs in with it
  const wentOffline = nextEvent(a, "online_state", (e) => e.user_id === "lister_b" && e.state === 0);
  await b.close();
  await wentOffline;
});

test("invite, invite_reply, and message between terminals", async () => {
  const host = terminal(gw, app, "host", { companyId: "c2" });
  const guest = terminal(gw, app, "guest", { companyId: "c2" });
  await Promise.all([host.connect(), guest.connect()]);
  const invited = nextEvent(guest, "invite");
  assert.deepEqual(await host.invite("room1", ["guest", "nobody"], 77, { topic: "standup" }), ["nobody"]);
  const invite = await invited;
  assert.deepEqual(
    [invite.group_id, invite.seq_id, invite.extend_info, invite.inviter.user_id],
    ["room1", 77, { topic: "standup" }, "host"],
  );
  const replied = nextEvent(host, "invite_reply");
  assert.equal(await guest.replyInvite("room1", 77, true, { seat: 3 }), true);
  const reply = await replied;
  assert.deepEqual([reply.user_id, reply.accept, reply.extend_info], ["guest", true, { seat: 3 }]);

  const received = nextEvent(guest, "message");
  assert.equal(await host.sendMessage("guest", { text: "hi" }), 1);
  const message = await received;
  assert.deepEqual([message.from_user_id, message.body], ["host", { text: "hi" }]);
  const text = nextEvent(guest, "message");
  assert.equal(await host.sendMessage("guest", "plain"), 1);
  assert.equal((await text).body, "plain");
});

test("trans_cmd and invite from the app's backend", async () => {
  const t = terminal(gw, app, "target", { clientGuid: "g-target" });
  await t.connect();
  const pushed = nextEvent(t, "trans_cmd");
  const result = await gw.call("POST", "/v1/online/trans-cmd", {
    app_id: app.app_id,
    msg_id: 9,
    trans_mess: { cmd: "mute" },
    user_list: [{ user_id: "target", mutex_type: "web", client_guid: "" }],
  });
  assert.equal(result.user_list[0].result, 0);
  assert.deepEqual(await pushed, { type: "trans_cmd", msg_id: 9, trans_mess: { cmd: "mute" } });

  const invited = nextEvent(t, "invite");
  await gw.call("POST", "/v1/online/invite", { app_id: app.app_id, group_id: "lobby", user_id_list: ["target"], seq_id: 5 });
  assert.deepEqual((await invited).inviter, { backend: true });
  assert.equal(await t.replyInvite("lobby", 5, false), true); // durable in the app's event log
});

test("groups: join, start and stop media, leave; each a version and a group event", async () => {
  const t = terminal(gw, app, "member");
  await t.connect();
  const events = [];
  t.on("group", (e) => events.push([e.action, e.group_id, e.media_id ?? null]));
  const joined = await t.joinGroup("g1");
  const started = await t.startMedia("g1", "cam", MediaType.VIDEO);
  assert.ok(started > joined);
  assert.deepEqual([...t.groups.get("g1")], [["cam", 2]]);
  await t.stopMedia("g1", "cam", MediaType.VIDEO);
  await t.leaveGroup("g1");
  assert.deepEqual(events, [
    ["joined", "g1", null],
    ["media_started", "g1", "cam"],
    ["media_stopped", "g1", "cam"],
    ["left", "g1", null],
  ]);
  assert.equal(t.groups.size, 0);
  await assert.rejects(t.leaveGroup("g1"), { code: TerminalCode.GROUP_UNKNOWN, request: "leave_group" });
  await assert.rejects(t.joinGroup("bad group"), { code: TerminalCode.GROUP_ID_INVALID });
  await t.joinGroup("g2");
  await assert.rejects(t.joinGroup("g2"), { code: TerminalCode.ALREADY_IN_GROUP });
  await assert.rejects(t.stopMedia("g2", "mic", MediaType.AUDIO), { code: TerminalCode.MEDIA_UNKNOWN });
});

test("refusals are TerminalErrors with the gateway's code and msg; the connection stays", async () => {
  const t = terminal(gw, app, "refused");
  await t.connect();
  await assert.rejects(t.sendMessage("nobody_online", "x"), (err) => {
    assert.ok(err instanceof TerminalError && !(err instanceof LoginError));
    assert.deepEqual([err.code, err.request], [TerminalCode.NOT_ONLINE, "message"]);
    return true;
  });
  await assert.rejects(t.listOnline(1, 500), { code: TerminalCode.FIELD_INVALID, msg: /page_size/ });
  await assert.rejects(t.request("no_such_request"), { code: TerminalCode.UNKNOWN_TYPE });
  await assert.rejects(t.sendMessage("x", { big: "y".repeat(9000) }), { code: TerminalCode.TOO_LARGE });
  assert.equal(typeof (await t.heartbeat()), "number"); // still online
});

test("heartbeats keep a quiet terminal online past three intervals", async () => {
  const t = terminal(gw, app, "quiet");
  await t.connect();
  let gone = false;
  t.on("disconnected", () => (gone = true));
  await new Promise((r) => setTimeout(r, 3_500)); // the gateway drops one silent for 3 s
  assert.equal(gone, false);
  assert.equal((await gw.online(app.app_id, "quiet")).length, 1);
});

test("a listener that throws, or an async one that rejects: reported, the client reads on, nothing unhandled", async () => {
  const t = terminal(gw, app, "buggy");
  const reported = [];
  const consoleError = console.error;
  console.error = (err) => reported.push(String(err)); // (Node has no reportError)
  try {
    t.on("login", () => {
      throw new Error("sync bug");
    });
    t.on("login", async () => {
      await Promise.resolve();
      throw new Error("async bug");
    });
    await t.connect();
    await eventually(() => reported.length === 2);
    assert.deepEqual(reported.sort(), ["Error: async bug", "Error: sync bug"]);
    assert.equal((await t.listOnline()).users.some((u) => u.user_id === "buggy"), true);
  } finally {
    console.error = consoleError;
  }
});
