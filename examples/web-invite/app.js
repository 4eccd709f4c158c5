// The page: one terminal of the app, logged in with a token its backend minted.
import { TerminalClient, LoginError } from "/sdk/index.js";

const userId = new URLSearchParams(location.search).get("user") || "alice";
const $ = (id) => document.getElementById(id);
const status = (text) => ($("status").textContent = text);
$("user").textContent = userId;

async function session() {
  const response = await fetch(`/api/session?user_id=${encodeURIComponent(userId)}`);
  if (!response.ok) throw new Error(`session: HTTP ${response.status}`);
  return await response.json();
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", body: JSON.stringify(body) });
  return await response.json();
}

const first = await session();
const resumeKey = `hstgw-resume:${first.app_id}:${userId}`;
const client = new TerminalClient({
  url: first.url, // the gateway's REST address: the SDK asks it where terminals connect
  appId: first.app_id,
  userId,
  // A token logs in once; the SDK reconnects with its resume credential and asks for a
  // new token only when that has expired. The first one is used at once.
  token: (() => {
    let spare = first.token;
    return async () => {
      const token = spare ?? (await session()).token;
      spare = null;
      return token;
    };
  })(),
  resume: sessionStorage.getItem(resumeKey) ?? undefined, // survives a reload
});
window.hstgw = client; // for the console (and the browser test)

const online = new Map();
function showOnline() {
  $("online").replaceChildren(
    ...[...online.values()].map((u) => Object.assign(document.createElement("li"), { textContent: `${u.user_id} (${u.mutex_type}) ${u.custom_state}` })),
  );
}

client.on("login", async (event) => {
  sessionStorage.setItem(resumeKey, event.reply.resume);
  status("online");
  const page = await client.listOnline(1, 100);
  online.clear();
  for (const u of page.users) online.set(u.client_guid, u);
  showOnline();
});
client.on("online_state", (event) => {
  if (event.state === 1) online.set(event.client_guid, event);
  else online.delete(event.client_guid);
  showOnline();
});
client.on("invite", (invite) => {
  const from = invite.inviter.backend ? "the app's backend" : invite.inviter.user_id;
  const box = Object.assign(document.createElement("div"), { className: "invite" });
  box.dataset.group = invite.group_id;
  box.append(`${from} invites you to ${invite.group_id} `);
  for (const [label, accept] of [["Accept", true], ["Decline", false]]) {
    const button = Object.assign(document.createElement("button"), { textContent: label });
    button.onclick = async () => {
      try {
        await client.replyInvite(invite.group_id, invite.seq_id, accept);
        box.replaceChildren(`${accept ? "accepted" : "declined"}: ${invite.group_id}`);
      } catch (err) {
        box.append(` (${err.code} ${err.msg})`);
      }
    };
    box.append(button);
  }
  $("invites").append(box);
});
client.on("trans_cmd", (event) => {
  $("commands").append(Object.assign(document.createElement("li"), { textContent: JSON.stringify(event.trans_mess) }));
});
client.on("kicked", (event) => status(`kicked: ${event.reason}`));
client.on("disconnected", (event) => {
  if (event.willReconnect) status("reconnecting");
});
client.on("closed", (event) => {
  if (!client.kicked) status(`closed: ${event.reason}`);
});

$("invite-form").onsubmit = async (event) => {
  event.preventDefault();
  await post("/api/invite", { group_id: $("group").value, user_ids: [$("invitee").value] });
};

try {
  await client.connect();
} catch (err) {
  // a LoginError carries the gateway's code (1000000 token, 1000001 app, ...)
  status(`${err instanceof LoginError ? "login refused" : "cannot connect"}: ${err.code} ${err.msg}`);
}
