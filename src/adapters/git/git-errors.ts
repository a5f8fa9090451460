// Git's failures as one line a person can act on; the full text stays in the error's details
// (the log and the API show it).
import { ImmuneError } from '../../core/errors.js';

const RULES: [RegExp, string][] = [
  [
    /refusing to update checked out branch|receive\.denyCurrentBranch/i,
    'the repository refuses pushes to its checked-out branch (use a bare repository or set repo.push_url)',
  ],
  [
    /protected branch|pre-receive hook declined|hook declined|GH006/i,
    "the repository's hooks refused the push (a protected branch? allow immune's identity to push, or set repo.push_url)",
  ],
  [
    /non-fast-forward|fetch first|\[rejected\]|failed to lock/i,
    'the branch kept moving while immune pushed (someone pushed in between, again and again)',
  ],
  [
    /Permission denied|Authentication failed|could not read (Username|Password)|returned error: 40[13]|access denied|not authorized/i,
    "the repository refused immune's credentials (check the token or SSH key the orchestrator pushes with)",
  ],
  [
    /Could not resolve host|Connection refused|Connection timed out|Operation timed out|Network is unreachable|unable to access/i,
    'the repository cannot be reached from the orchestrator',
  ],
  [
    /does not appear to be a git repository|Repository not found|not a git repository|No such file or directory/i,
    'there is no repository at the configured url',
  ],
  [
    /unable to auto-detect email address|Please tell me who you are/i,
    'git has no identity for the revert commit (set user.name and user.email)',
  ],
];

/** One line for people: what git refused, in words; falls back to git's own first error line. */
export function summarizeGitError(text: string): string {
  for (const [re, summary] of RULES) if (re.test(text)) return summary;
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /^(fatal|error):/i.test(l));
  return (line ?? text.split('\n').find((l) => l.trim()) ?? 'git failed').replace(/^(fatal|error):\s*/i, '').slice(0, 200);
}

/** An ImmuneError whose message is `${what}: <one line>` and whose details carry git's full output. */
export function gitError(what: string, err: unknown, code: 'IMMUNE_EXTERNAL' | 'IMMUNE_CONFLICT' = 'IMMUNE_EXTERNAL'): ImmuneError {
  const text = err instanceof Error ? err.message : String(err);
  return new ImmuneError(code, `${what}: ${summarizeGitError(text)}`, {
    details: { git: text },
    cause: err,
  });
}
