// The tests' gateway: a real `hstgw serve` from the repository's .venv, on free ports,
// with a temporary data directory; a developer made with the CLI, apps made through REST,
// and 001 tokens built here (as an app's backend builds them).

import { spawn, execFile } from "node:child_process";
import { createCipheriv, randomInt } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const VENV = process.env.HSTGW_VENV ?? join(REPO, ".venv");
const HSTGW = join(VENV, "bin", "hstgw");

export async function freePort() {
  return (await freePorts(1))[0];
}

/** `n` different free ports: all held open while they are picked (ports picked one after
 * another, each closed before the next, may be the same port twice). */
export async function freePorts(n) {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise((done, fail) => {
      const server = createServer();
      server.once("error", fail);
      server.listen(0, "127.0.0.1", () => done(server));
    })),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
  return ports;
}

/** A 001 token (docs/tokens.md): "001" + base64(AES-128-CBC(secret, iv 00..0f, JSON padded with spaces)). */
export function token001(aid, secret, { uid = "null", gid = "null", cid, et } = {}) {
  const claims = { aid, gid, uid, ...(et ? { et } : {}), ts: Date.now(), r: randomInt(2 ** 31 - 1) };
  if (cid !== undefined) claims.cid = cid;
  let plain = Buffer.from(JSON.stringify(claims), "utf8");
  plain = Buffer.concat([plain, Buffer.alloc((16 - (plain.length % 16)) % 16, 0x20)]);
  const cipher = createCipheriv("aes-128-cbc", Buffer.from(secret, "utf8"), Buffer.from([...Array(16).keys()]));
  cipher.setAutoPadding(false);
  return "001" + Buffer.concat([cipher.update(plain), cipher.final()]).toString("base64");
}

async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class Gateway {
  static async start({ heartbeatInterval = 1 } = {}) {
    const gw = new Gateway();
    gw.dir = await mkdtemp(join(tmpdir(), "hstgw-js-"));
    [gw.port, gw.terminalPort, gw.eventPort] = await freePorts(3);
    gw.url = `http://127.0.0.1:${gw.port}`;
    // (none of the caller's HSTGW_* settings: this gateway is embedded and the test's own)
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HSTGW_")));
    gw.env = {
      ...inherited,
      HSTGW_DATA_DIR: join(gw.dir, "data"),
      HSTGW_PORT: String(gw.port),
      HSTGW_TERMINAL_PORT: String(gw.terminalPort),
      HSTGW_EVENT_PORT: String(gw.eventPort),
      HSTGW_HEARTBEAT_INTERVAL: String(heartbeatInterval),
      HSTGW_ACCESS_LOG: "false",
      // every test calls from 127.0.0.1, many failing on purpose
      HSTGW_LIMIT_LOGIN_FAILURES_PER_ADDRESS: "0",
      HSTGW_LIMIT_AUTH_FAILURES_PER_ADDRESS: "0",
    };
    const { stdout } = await run(HSTGW, ["dev", "create", "--json"], { env: gw.env, cwd: gw.dir });
    gw.dev = JSON.parse(stdout);
    await gw.serve();
    return gw;
  }

  async serve() {
    this.process = spawn(HSTGW, ["serve"], { env: this.env, cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
    this.stderr = "";
    this.process.stderr.on("data", (chunk) => (this.stderr += chunk));
    const exited = new Promise((r) => this.process.once("exit", r));
    this.exited = exited;
    await until(async () => (await fetch(`${this.url}/healthz`)).ok, 20_000, `hstgw serve (${this.stderr})`);
  }

  /** Stop the server (SIGTERM: terminals are kicked with `shutdown`). */
  async stopServer() {
    this.process.kill("SIGTERM");
    await this.exited;
  }

  async stop() {
    if (this.process.exitCode === null && this.process.signalCode === null) await this.stopServer();
    await rm(this.dir, { recursive: true, force: true });
  }

  async accessToken() {
    const authorization = `${this.dev.dev_id}.${token001(this.dev.dev_id, this.dev.dev_secret)}`;
    const body = await (await fetch(`${this.url}/access/token`, { headers: { Authorization: authorization } })).json();
    if (body.code !== 0) throw new Error(JSON.stringify(body));
    return body.result.access_token;
  }

  /** One REST call of the developer; the envelope's result (throws on a non-zero code). */
  async call(method, path, body) {
    this.token ??= await this.accessToken();
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: { Authorization: this.token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const envelope = await response.json();
    if (envelope.code !== 0) throw new Error(`${method} ${path}: ${JSON.stringify(envelope)}`);
    return envelope.result;
  }

  async createApp(name, service = [7]) {
    return await this.call("POST", "/v1/app", { app_name: name, status: "online", service: service.map((id) => ({ service_id: id })) });
  }

  /** The terminals of `userId` online now (REST: GET /v1/online/user/state). */
  async online(appId, userId) {
    const result = await this.call("GET", `/v1/online/user/state?app_id=${appId}&user_ids=${userId}&msg_id=1&page=1&page_size=100`);
    return result.user_list.filter((t) => t.state === 1);
  }
}
