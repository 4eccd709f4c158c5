// What needs no gateway: the back-off table, the error classes, the options, and the
// failures of a gateway that is down or is not one (a protocol version the SDK does not speak).

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import WebSocket from "ws";

import {
  ClientCode,
  LoginError,
  PROTOCOL_VERSIONS,
  ProtocolVersionError,
  RECONNECT_DELAYS_MS,
  TerminalClient,
  TerminalCode,
  TerminalConnectionError,
  TerminalError,
  errorFromReply,
  reconnectDelay,
} from "../dist/index.js";
import { freePort } from "./harness.mjs";
import "./helpers.mjs";

test("the back-off waits each delay in turn, jittered by ±25 %, then repeats the last", () => {
  assert.deepEqual(RECONNECT_DELAYS_MS, [200, 500, 1000, 2000, 5000, 10000]);
  const table = [
    [1, 0.5, 200],
    [2, 0.5, 500],
    [6, 0.5, 10000],
    [7, 0.5, 10000],
    [50, 0.5, 10000],
    [1, 0, 150],
    [1, 0.999999, 250],
    [3, 0, 750],
  ];
  for (const [attempt, random, expected] of table) {
    assert.equal(reconnectDelay(attempt, RECONNECT_DELAYS_MS, () => random), expected, `attempt ${attempt}`);
  }
});

test("a reply's code maps to its error class, in one place", () => {
  const login = errorFromReply("login", { code: 1000000, msg: "token check failed" });
  assert.ok(login instanceof LoginError && login instanceof TerminalError);
  assert.equal(login.code, TerminalCode.TOKEN_INVALID);
  assert.equal(login.request, "login");
  const other = errorFromReply("message", { code: 1000106, msg: "" });
  assert.ok(!(other instanceof LoginError));
  assert.equal(other.msg, "no such terminal online"); // the table's message when the reply has none
  assert.equal(other.name, "TerminalError");
  assert.ok(Object.values(ClientCode).every((code) => code < 0));
  assert.deepEqual(PROTOCOL_VERSIONS, [1]);
});

test("the client never takes the app secret, and names what is missing", () => {
  const base = { url: "http://127.0.0.1:1", appId: "a".repeat(32), userId: "u", token: "001x", WebSocket };
  assert.throws(() => new TerminalClient({ ...base, appSecret: "s".repeat(16) }), /appSecret: a terminal never holds/);
  assert.throws(() => new TerminalClient({ ...base, token: undefined }), /token: required/);
  assert.throws(() => new TerminalClient({ ...base, userId: "" }), /userId: required/);
  if (globalThis.WebSocket === undefined) {
    assert.throws(() => new TerminalClient({ ...base, WebSocket: undefined }), /WebSocket: none in this runtime/);
  }
});

test("a gateway that is down: a TerminalConnectionError with its code, for REST and ws URLs", async () => {
  const port = await freePort();
  for (const url of [`http://127.0.0.1:${port}`, `ws://127.0.0.1:${port}/`]) {
    const client = new TerminalClient({ url, appId: "a".repeat(32), userId: "u", token: "001x", WebSocket });
    await assert.rejects(client.connect(), (err) => {
      assert.ok(err instanceof TerminalConnectionError, String(err));
      assert.equal(err.code, ClientCode.CONNECTION_FAILED);
      return true;
    });
    assert.equal(client.state, "closed");
    await assert.rejects(client.listOnline(), { code: ClientCode.CONNECTION_CLOSED, request: "list_online" });
  }
});

async function addressServer(answer) {
  const server = createServer((req, res) => {
    const [status, body] = answer(req.url);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

test("a gateway of a protocol version the SDK does not speak: a ProtocolVersionError", async () => {
  const server = await addressServer(() => [200, { code: 0, msg: "OK", result: { ws_url: "ws://127.0.0.1:1/", protocol: 2 } }]);
  try {
    const client = new TerminalClient({ url: server.url, appId: "a".repeat(32), userId: "u", token: "001x", WebSocket });
    await assert.rejects(client.connect(), (err) => {
      assert.ok(err instanceof ProtocolVersionError);
      assert.equal(err.code, ClientCode.PROTOCOL_UNSUPPORTED);
      assert.equal(err.protocol, 2);
      assert.match(err.msg, /the gateway speaks protocol 2; this SDK speaks 1/);
      return true;
    });
  } finally {
    server.close();
  }
});

test("a URL that is not the gateway: the address reply is refused with its code", async () => {
  const server = await addressServer(() => [404, { code: 606000003, msg: "path: no such path" }]);
  try {
    const client = new TerminalClient({ url: server.url, appId: "a".repeat(32), userId: "u", token: "001x", WebSocket });
    await assert.rejects(client.connect(), { name: "TerminalConnectionError", code: ClientCode.BAD_ADDRESS_REPLY });
    const bad = new TerminalClient({ url: "ftp://x", appId: "a".repeat(32), userId: "u", token: "001x", WebSocket });
    await assert.rejects(bad.connect(), { code: ClientCode.CONNECTION_FAILED, msg: /url: must start with/ });
  } finally {
    server.close();
  }
});

test("an address call answered by something else (not JSON): BAD_ADDRESS_REPLY, not a connection failure", async () => {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>a web server</title>");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${server.address().port}`;
    const client = new TerminalClient({ url, appId: "a".repeat(32), userId: "u", token: "001x", WebSocket });
    await assert.rejects(client.connect(), { name: "TerminalConnectionError", code: ClientCode.BAD_ADDRESS_REPLY, msg: /not JSON/ });
    assert.equal(client.state, "closed");
  } finally {
    server.close();
  }
});

test("an address call that is never answered: connect() fails after requestTimeoutMs, it does not hang", async () => {
  const server = createServer(() => {}); // takes the request, never answers
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${server.address().port}`;
    const client = new TerminalClient({ url, appId: "a".repeat(32), userId: "u", token: "001x", WebSocket, requestTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(client.connect(), { name: "TerminalConnectionError", code: ClientCode.CONNECTION_FAILED, msg: /no answer within 300 ms/ });
    assert.ok(Date.now() - started < 5_000);
    assert.equal(client.state, "closed");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
