import { InvalidInputError } from './errors';

/** Edit distance (insertions, deletions, substitutions, and a swap of two neighbours). */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/**
 * The known name closest to `name`, when it is close enough to be a slip of the keyboard or of
 * case (`adress`, `waitMS`, `connnection`, `prefx`); else undefined.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === lower ? 0 : distance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // One edit in four characters, at least one: 'ttl' is not a slip for 'url'.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 4))
    ? best
    : undefined;
}

/** "did you mean 'x'?" for a message, or the list of known names when none is close. */
export function suggestion(name: string, known: readonly string[], quote = "'"): string {
  const close = closestName(name, known);
  if (close !== undefined) return `did you mean ${quote}${close}${quote}?`;
  return `known options: ${[...known].sort().join(', ')}`;
}

/**
 * Refuses option names that are not among `known`, so a misspelt option is an error instead
 * of a default in silence. `where` names the entry point as the user wrote it
 * (`createConsulWatch`, `ConsulModule.forRoot config`), so the message points at their code.
 */
export function checkOptionNames(options: object, known: readonly string[], where: string): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    throw new InvalidInputError(`${where}: unknown option '${name}': ${suggestion(name, known)}`);
  }
}

/**
 * The option names of an options type, listed once against the type: an option added to the
 * type and not here is a type error, not an option refused at run time.
 */
export const namesOf = <T>(names: { [K in keyof Required<T>]: true }): readonly string[] =>
  Object.keys(names);
