/** Error codes of the podplug-agent; probes' 503 bodies and tests carry them. */
export type AgentErrorCode =
  | "PODPLUG_AGENT_NO_SOCKET"
  | "PODPLUG_AGENT_BAD_HANDSHAKE_FILE"
  | "PODPLUG_AGENT_CHECK_FAILED"
  | "PODPLUG_AGENT_NOT_SERVING"
  | "PODPLUG_AGENT_MTLS"
  | "PODPLUG_AGENT_BAD_CONFIG";

/** Why a plugin is not healthy, or the agent cannot start. */
export class AgentError extends Error {
  readonly code: AgentErrorCode;
  constructor(code: AgentErrorCode, message: string) {
    super(message);
    this.name = "AgentError";
    this.code = code;
  }
}
