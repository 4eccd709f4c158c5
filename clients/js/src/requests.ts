/**
 * The requests a logged-in terminal sends (TerminalClient inherits them): each is one
 * frame of docs/terminal-protocol.md and its reply. The groups joined and the media
 * started are kept, so that a reconnect takes them up again (the gateway left them
 * when the previous connection went).
 */

import { DEFAULT_ONLINE_PAGE_SIZE } from "./constants.js";
import { Emitter } from "./emitter.js";
import type { GroupEvent, JsonObject, OnlinePage, Reply, TerminalEvents } from "./types.js";

export abstract class TerminalRequests extends Emitter<TerminalEvents> {
  /** group_id -> (media_id -> media_type) of the groups this terminal is in. */
  readonly groups = new Map<string, Map<string, number>>();

  /** Send one request; its reply, or a TerminalError (its code) when the code is not 0. */
  abstract request(type: string, fields?: Record<string, unknown>): Promise<Reply>;

  /** The online terminals of the app and company, this one included. */
  async listOnline(page = 1, pageSize = DEFAULT_ONLINE_PAGE_SIZE): Promise<OnlinePage> {
    const reply = await this.request("list_online", { page, page_size: pageSize });
    return reply as unknown as OnlinePage;
  }

  /** Show `customState` to the company (they are pushed an online_state). */
  async setState(customState: string): Promise<void> {
    await this.request("set_state", { custom_state: customState });
    this.stateChanged(customState);
  }

  /** Invite users to a group; the users none of whose terminals was reached. */
  async invite(groupId: string, userIds: string[], seqId: number, extendInfo: JsonObject | null = null): Promise<string[]> {
    const reply = await this.request("invite", { group_id: groupId, user_ids: userIds, seq_id: seqId, extend_info: extendInfo });
    return reply.failed_user_ids as string[];
  }

  /** Reply to an invite; true once the inviter (a terminal, or the backend's event log) has it. */
  async replyInvite(groupId: string, seqId: number, accept: boolean, extendInfo: JsonObject | null = null): Promise<boolean> {
    const reply = await this.request("invite_reply", { group_id: groupId, seq_id: seqId, accept, extend_info: extendInfo });
    return reply.delivered === true;
  }

  /** Send to every terminal of `toUserId` in this company; how many received it. */
  async sendMessage(toUserId: string, body: JsonObject | string): Promise<number> {
    const reply = await this.request("message", { to_user_id: toUserId, body });
    return reply.delivered as number;
  }

  /** One heartbeat (the client sends them by itself); the gateway's time, epoch ms. */
  async heartbeat(): Promise<number> {
    const reply = await this.request("heartbeat");
    return reply.server_time as number;
  }

  /** Join a group; the app's event version of the join. */
  async joinGroup(groupId: string): Promise<number> {
    const version = (await this.request("join_group", { group_id: groupId })).version as number;
    this.groups.set(groupId, new Map());
    this.groupChanged({ type: "group", action: "joined", group_id: groupId, version });
    return version;
  }

  /** Leave a group (its media stop with it); the version of the leave. */
  async leaveGroup(groupId: string): Promise<number> {
    const version = (await this.request("leave_group", { group_id: groupId })).version as number;
    this.groups.delete(groupId);
    this.groupChanged({ type: "group", action: "left", group_id: groupId, version });
    return version;
  }

  /** Announce a media broadcast in a group (MediaType: 0 screen, 1 audio, 2 video, 4 whiteboard). */
  async startMedia(groupId: string, mediaId: string, mediaType: number): Promise<number> {
    const fields = { group_id: groupId, media_id: mediaId, media_type: mediaType };
    const version = (await this.request("start_media", fields)).version as number;
    this.groups.get(groupId)?.set(mediaId, mediaType);
    this.groupChanged({ type: "group", action: "media_started", ...fields, version });
    return version;
  }

  async stopMedia(groupId: string, mediaId: string, mediaType: number): Promise<number> {
    const fields = { group_id: groupId, media_id: mediaId, media_type: mediaType };
    const version = (await this.request("stop_media", fields)).version as number;
    this.groups.get(groupId)?.delete(mediaId);
    this.groupChanged({ type: "group", action: "media_stopped", ...fields, version });
    return version;
  }

  /**
   * Join the groups and start the media again (after a reconnect). `groups` is left as
   * it is: a connection lost half-way (the usual reason to be here) leaves every group
   * for the next reconnect to take up.
   */
  protected async rejoin(): Promise<void> {
    for (const [groupId, media] of [...this.groups]) {
      const joined = (await this.request("join_group", { group_id: groupId })).version as number;
      this.groupChanged({ type: "group", action: "joined", group_id: groupId, version: joined });
      for (const [mediaId, mediaType] of [...media]) {
        const fields = { group_id: groupId, media_id: mediaId, media_type: mediaType };
        const version = (await this.request("start_media", fields)).version as number;
        this.groupChanged({ type: "group", action: "media_started", ...fields, version });
      }
    }
  }

  protected stateChanged(_customState: string): void {}

  private groupChanged(event: GroupEvent): void {
    this.emit("group", event);
  }
}
