// Logins refused, kicks, and reconnects with the resume credential, against a real `hstgw serve`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";

import { ClientCode, LoginError, TerminalClient, TerminalCode } from "../dist/index.js";
import { Gateway, token001 } from "./harness.mjs";
import { eventually, nextEvent, terminal } from "./helpers.mjs";

let gw;
let app;
before(async () => {
  gw = await Gateway.start();
  app = await gw.createApp("js_connection");
});
after(async () => await gw?.stop());

function loginRefused(code) {
  return (err) => {
    assert.ok(err instanceof LoginError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.request, "login");
    return true;
  };
}

test("a wrong token, an unknown app, a bad user_id, an app without the online service", async () => {
  const wrong = terminal(gw, app, "u1", { token: token001(app.app_id, "x".repeat(16), { uid: "u1" }) });
  await assert.rejects(wrong.connect(), loginRefused(TerminalCode.TOKEN_INVALID));
  assert.equal(wrong.state, "closed");
  const unknown = terminal(gw, { app_id: "0".repeat(32), app_secret: app.app_secret }, "u1");
  await assert.rejects(unknown.connect(), loginRefused(TerminalCode.APP_NOT_FOUND));
  const badUser = terminal(gw, app, "no spaces");
  await assert.rejects(badUser.connect(), loginRefused(TerminalCode.USER_ID_INVALID));
  const videoOnly = await gw.createApp("js_video_only", [3]);
  const noService = terminal(gw, videoOnly, "u1");
  await assert.rejects(noService.connect(), loginRefused(TerminalCode.NO_ONLINE_SERVICE));
});

test("a token logs in once; the company of its cid only", async () => {
  const token = token001(app.app_id, app.app_secret, { uid: "once", cid: "acme" });
  const elsewhere = terminal(gw, app, "once", { token, companyId: "other" });
  await assert.rejects(elsewhere.connect(), loginRefused(TerminalCode.TOKEN_INVALID));
  const first = terminal(gw, app, "once", { token, companyId: "acme" });
  await first.connect();
  await first.close();
  const again = terminal(gw, app, "once", { token, companyId: "acme" });
  await assert.rejects(again.connect(), loginRefused(TerminalCode.TOKEN_INVALID));
});

test("the same user and mutex_type: 1000008, or with force_login the older one is kicked", async () => {
  const older = terminal(gw, app, "twice");
  await older.connect();
  await assert.rejects(terminal(gw, app, "twice").connect(), loginRefused(TerminalCode.ALREADY_ONLINE));
  const kicked = nextEvent(older, "kicked");
  const closed = nextEvent(older, "closed");
  await terminal(gw, app, "twice", { forceLogin: true }).connect();
  assert.equal((await kicked).reason, "force_login");
  assert.deepEqual(await closed, { type: "closed", code: 4001, reason: "force_login" });
  assert.equal(older.state, "closed");
});

test("a kickout: the kicked push with its reason, then closed for good (no reconnect)", async () => {
  const t = terminal(gw, app, "kickme");
  await t.connect();
  const kicked = nextEvent(t, "kicked");
  const disconnected = nextEvent(t, "disconnected");
  const closed = nextEvent(t, "closed");
  let stateWhenDisconnected;
  t.on("disconnected", () => (stateWhenDisconnected = t.state));
  assert.deepEqual(await gw.call("POST", "/v1/kickout", { app_id: app.app_id, user_id: "kickme" }), { kicked: 1 });
  assert.deepEqual(await kicked, { type: "kicked", reason: "kickout", msg: "kicked out by the app's backend" });
  assert.equal((await disconnected).willReconnect, false);
  assert.equal(stateWhenDisconnected, "closed");
  assert.deepEqual(await closed, { type: "closed", code: 4001, reason: "kickout" });
  assert.equal(t.kicked.reason, "kickout");
  await assert.rejects(t.heartbeat(), { code: ClientCode.CONNECTION_CLOSED });
});

test("a dropped connection: reconnect with the resume credential, groups and state taken up again", async () => {
  const t = terminal(gw, app, "dropper", { token: token001(app.app_id, app.app_secret, { uid: "dropper" }) });
  const first = await t.connect(); // a string token: only the credential can log in again
  await t.joinGroup("room");
  await t.startMedia("room", "mic", 1);
  await t.setState("in a call");
  const events = [];
  for (const type of ["disconnected", "reconnecting", "reconnected", "login"]) t.on(type, (e) => events.push(type));
  let stateWhenDisconnected;
  t.on("disconnected", () => (stateWhenDisconnected = t.state));
  const rejoined = nextEvent(t, "group", (e) => e.action === "media_started");
  const pending = t.listOnline(); // in flight when the network goes
  const disconnected = nextEvent(t, "disconnected");
  t.socket.terminate(); // the network drops it (no closing handshake): the client did not ask
  await assert.rejects(pending, { code: ClientCode.CONNECTION_CLOSED });
  assert.deepEqual(await disconnected, { type: "disconnected", code: 1006, reason: "", willReconnect: true });
  const reconnected = await nextEvent(t, "reconnected");
  assert.notEqual(reconnected.reply.resume, first.resume);
  assert.equal(t.resume, reconnected.reply.resume);
  assert.deepEqual(events, ["disconnected", "reconnecting", "login", "reconnected"]);
  assert.equal(stateWhenDisconnected, "reconnecting");
  await rejoined;
  assert.deepEqual([...t.groups.get("room")], [["mic", 1]]);
  const online = await gw.online(app.app_id, "dropper");
  assert.deepEqual(online.map((o) => o.state), [1]);
  const page = await t.listOnline();
  assert.equal(page.users.find((u) => u.user_id === "dropper").custom_state, "in a call");
});

test("a connection lost again while groups are taken up: the next reconnect still takes them up", async () => {
  const t = terminal(gw, app, "flaky", { token: token001(app.app_id, app.app_secret, { uid: "flaky" }) });
  await t.connect();
  await t.joinGroup("room");
  await t.startMedia("room", "cam", 2);
  const rejoinFailed = nextEvent(t, "rejoin_failed");
  // the first reconnect's socket drops before its join_group is answered
  t.once("reconnected", () => t.socket.terminate());
  let reconnects = 0;
  const again = nextEvent(t, "reconnected", () => ++reconnects === 2);
  const rejoined = nextEvent(t, "group", (e) => e.action === "media_started");
  t.socket.terminate();
  assert.equal((await rejoinFailed).error.code, ClientCode.CONNECTION_CLOSED);
  await again;
  const started = await rejoined;
  assert.deepEqual([started.group_id, started.media_id, started.media_type], ["room", "cam", 2]);
  assert.deepEqual([...t.groups.get("room")], [["cam", 2]]);
  assert.equal(await t.leaveGroup("room") > started.version, true); // in the group now: leaving is an event
});

test("a reconnect the gateway refuses (the app went offline): reconnect_failed, then closed", async () => {
  const own = await gw.createApp("js_goes_offline");
  const t = terminal(gw, own, "stranded", { reconnectDelaysMs: [400] });
  await t.connect();
  const failed = nextEvent(t, "reconnect_failed");
  const closed = nextEvent(t, "closed");
  t.socket.terminate();
  await gw.call("PATCH", "/v1/app", { app_id: own.app_id, status: "offline" });
  const { error } = await failed;
  assert.ok(error instanceof LoginError);
  assert.equal(error.code, TerminalCode.APP_OFFLINE);
  assert.equal((await closed).code, 4000);
  assert.equal(t.state, "closed");
});

test("a resume credential the gateway does not know: the token function gives a fresh token", async () => {
  let asked = 0;
  const t = terminal(gw, app, "reloaded", {
    resume: "f".repeat(32), // kept from an earlier page, now stale
    token: () => {
      asked += 1;
      return token001(app.app_id, app.app_secret, { uid: "reloaded" });
    },
  });
  const reply = await t.connect();
  assert.equal(asked, 1);
  assert.notEqual(reply.resume, "f".repeat(32));
  const stale = terminal(gw, app, "reloaded2", { resume: "f".repeat(32), token: "001notatoken" });
  await assert.rejects(stale.connect(), loginRefused(TerminalCode.TOKEN_INVALID));
});

test("a token function that fails: a TerminalConnectionError, not an unhandled rejection", async () => {
  const t = terminal(gw, app, "nobackend", {
    token: async () => {
      throw new Error("backend down");
    },
  });
  await assert.rejects(t.connect(), { name: "TerminalConnectionError", code: ClientCode.CONNECTION_FAILED, msg: /backend down/ });
});

test("close() while reconnecting stops the attempts", async () => {
  const t = terminal(gw, app, "closer", { reconnectDelaysMs: [60_000] });
  await t.connect();
  const reconnecting = nextEvent(t, "reconnecting");
  t.socket.close();
  assert.equal((await reconnecting).delayMs, 60_000);
  assert.equal(t.state, "reconnecting");
  const closed = nextEvent(t, "closed");
  await t.close();
  assert.equal((await closed).reason, "logout");
  assert.equal(t.state, "closed");
});

test("the gateway stops (kicked: shutdown) and comes back: the terminal reconnects by itself", async () => {
  const t = terminal(gw, app, "survivor");
  await t.connect();
  const kicked = nextEvent(t, "kicked");
  const retried = nextEvent(t, "reconnecting", (e) => e.attempt === 3);
  await gw.stopServer();
  assert.equal((await kicked).reason, "shutdown");
  await retried; // the gateway is down: attempts fail and go on
  const reconnected = nextEvent(t, "reconnected", () => true, 20_000);
  await gw.serve();
  await reconnected;
  assert.equal(t.state, "online");
  await eventually(async () => (await gw.online(app.app_id, "survivor")).length === 1);
});

test("in Node 20 without a global WebSocket the ws package's class is given", () => {
  const t = new TerminalClient({ url: gw.url, appId: app.app_id, userId: "x", token: "001", WebSocket });
  assert.equal(t.state, "idle");
});

test("a gateway that stops answering (no close): the heartbeat times out and the client reconnects", async () => {
  const t = terminal(gw, app, "frozen", { requestTimeoutMs: 700 });
  await t.connect();
  const disconnected = nextEvent(t, "disconnected", () => true, 5_000);
  gw.process.kill("SIGSTOP"); // a dead network: nothing is closed, nothing is answered
  try {
    assert.deepEqual(await disconnected, { type: "disconnected", code: 1006, reason: "heartbeat timed out", willReconnect: true });
  } finally {
    gw.process.kill("SIGCONT");
  }
  await nextEvent(t, "reconnected", () => true, 10_000);
  assert.equal(t.state, "online");
});
