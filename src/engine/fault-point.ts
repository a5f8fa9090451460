// Named crash points for the fault-injection suite: with IMMUNE_FAULT=<point>[:N] the process
// SIGKILLs itself the N-th time (default 1st) it reaches <point>. Unset, faultPoint is a no-op.
const spec = process.env.IMMUNE_FAULT?.trim();

function pointFrom(s: string): (name: string) => void {
  const m = /^([\w:.-]+?)(?::(\d+))?$/.exec(s);
  if (!m) throw new Error(`IMMUNE_FAULT="${s}": expected <point>[:N], e.g. transition:live or deploy-created:2`);
  const [, point, n] = m;
  const at = n ? Number(n) : 1;
  let seen = 0;
  return (name) => {
    if (name !== point || ++seen !== at) return;
    process.stderr.write(`IMMUNE_FAULT: killing the process at ${name} (${at})\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

/** Reached at a named point of a rollout; kills the process when IMMUNE_FAULT names it. */
export const faultPoint: (name: string) => void = spec ? pointFrom(spec) : () => undefined;
