/**
 * The reference agent as a library, for a fleet's own agent to embed (docs/agent.md):
 *
 *   const agent = await Agent.open({ controller, channel, hostId, labels, dir, installer: new FileInstaller(dir), pinKeys });
 *   await agent.run(abortController.signal);   // or: await agent.pollOnce();
 *
 * The decisions are the engine's (controller/engine/agent.ts); the library gathers the facts, keeps the durable
 * state and performs what the engine returns. Any Installer may be plugged in.
 */
export { Agent, AgentSetupError, kernelBootId, type Action, type AgentOptions, type ManifestOutcome, type PollReport, type StartReport } from './agent';
export { FileInstaller, InstallError, sha256OfFile, type FileInstallerOptions, type Installer } from './installer';
export { AgentMetrics, CRASH_KINDS, MANIFEST_REFUSALS, UPDATE_FAILURE_REASONS, type CrashKind, type UpdateFailureReason } from './metrics';
export { agentStateSchema, initialState, STATE_FILE, StateError, StateStore, type AgentState, type LastStart } from './state';
export { linksOf, statusOf, type AgentStatus } from './status';
export { ControllerTransport } from './transport';
export { main } from './cli';
export type { BootRules, BootState, ChannelManifest, InstalledVersion, TrustedManifestKey } from '../controller/engine/agent';
