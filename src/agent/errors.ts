import { PodplugError } from "../errors.ts";

/** Error codes of the podplug-agent; probes' 503 bodies and tests carry them. */
export type AgentErrorCode =
  | "AGENT_NO_SOCKET"
  | "AGENT_BAD_HANDSHAKE_FILE"
  | "AGENT_CHECK_FAILED"
  | "AGENT_NOT_SERVING"
  | "AGENT_MTLS"
  | "AGENT_BAD_CONFIG";

/** Why a plugin is not healthy, or the agent cannot start. */
export class AgentError extends PodplugError<AgentErrorCode> {}
