/** ringmaster: the controller daemon. */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('ringmaster: not yet implemented (the controller service arrives with issue 3)\n');
  return 2;
}
