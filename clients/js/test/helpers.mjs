// What the tests share: clients made against a gateway, waiting for events, and the
// check that the SDK never leaves a promise rejection unhandled.

import assert from "node:assert/strict";
import { after } from "node:test";
import WebSocket from "ws";

import { TerminalClient } from "../dist/index.js";
import { token001 } from "./harness.mjs";

const unhandled = [];
process.on("unhandledRejection", (reason) => unhandled.push(reason));
after(() => assert.deepEqual(unhandled, [], "unhandled promise rejections"));

/** A client of `app` for `userId` with a fresh token, Node's WebSocket (`ws`), quick back-off. */
export function terminal(gw, app, userId, options = {}) {
  const client = new TerminalClient({
    url: gw.url,
    appId: app.app_id,
    userId,
    token: () => token001(app.app_id, app.app_secret, { uid: userId, cid: options.companyId }),
    WebSocket,
    reconnectDelaysMs: [50, 100, 200],
    random: () => 0.5,
    ...options,
  });
  clients.push(client);
  return client;
}

const clients = [];
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

/** The next `type` event of `client` for which `accept` holds; rejects after `timeoutMs`. */
export function nextEvent(client, type, accept = () => true, timeoutMs = 5_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.on(type, (event) => {
      if (!accept(event)) return;
      clearTimeout(timer);
      off();
      resolve(event);
    });
  });
}

/** Wait until `check()` is true (it may be async), or fail. */
export async function eventually(check, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${check}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
