/** agent-sim: the fleet simulator. */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('agent-sim: not yet implemented (the fleet simulator arrives with issue 5)\n');
  return 2;
}
