// A stock Node client for tests/clients: the global fetch (Node 18+) with its defaults.
// One command a line on stdin, one answer a line on stdout (tab-separated):
//   <METHOD> <url> <authorization> <b64 body> -> REPLY <status> <content-type> <x-request-id> <b64 body>
// An empty authorization or body means none; a failure answers ERROR <message>.
import { createInterface } from "node:readline";

async function send(method, url, authorization, b64body) {
  const headers = {};
  const init = { method, headers, signal: AbortSignal.timeout(20000) };
  if (authorization) headers["Authorization"] = authorization;
  if (b64body) {
    headers["Content-Type"] = "application/json";
    init.body = Buffer.from(b64body, "base64").toString("utf8");
  }
  const response = await fetch(url, init);
  const body = Buffer.from(await response.text(), "utf8").toString("base64");
  return ["REPLY", response.status, response.headers.get("content-type") ?? "",
    response.headers.get("x-request-id") ?? "", body].join("\t");
}

for await (const line of createInterface({ input: process.stdin })) {
  const [method, url, authorization, b64body] = line.split("\t");
  let out;
  try {
    out = await send(method, url, authorization, b64body);
  } catch (e) {
    out = `ERROR\t${String(e.cause ?? e).replace(/[\t\n]/g, " ")}`;
  }
  process.stdout.write(out + "\n");
}
