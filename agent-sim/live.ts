/** Live mode: real time, the controller over HTTP, agent metrics on /metrics for a real Prometheus. */
import type { Scenario } from './scenario';

export async function runLive(_sc: Scenario, _flags: { json?: boolean }): Promise<number> {
  process.stderr.write('agent-sim: --clock live is not available in this build\n');
  return 2;
}
