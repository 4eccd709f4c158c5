/** hstgw-terminal: the browser (and Node) terminal SDK of hst-gateway. */

export { TerminalClient } from "./client.js";
export type { ClientState, TerminalClientOptions } from "./client.js";
export {
  CloseCode,
  KICK_REASONS,
  PROTOCOL_VERSIONS,
  TERMINAL_CODE_MSG,
  TerminalCode,
} from "./codes.js";
export type { KickReason, TerminalCodeName, TerminalCodeValue } from "./codes.js";
export { RECONNECT_DELAYS_MS, REQUEST_TIMEOUT_MS, reconnectDelay } from "./constants.js";
export {
  ClientCode,
  LoginError,
  ProtocolVersionError,
  TerminalConnectionError,
  TerminalError,
  TerminalTimeoutError,
  errorFromReply,
} from "./errors.js";
export type { ClientCodeValue } from "./errors.js";
export { MediaType } from "./types.js";
export type * from "./types.js";
