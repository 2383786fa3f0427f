// RFC 8785 JSON Canonicalization Scheme: the bytes the log hashes (SPEC sections 8 and 10).
//
// ECMAScript's own JSON serialisation of strings and numbers is what RFC 8785 prescribes; what
// remains is sorting object members by their names' UTF-16 code units (JavaScript's default
// string order) and dropping whitespace. Every number is an IEEE double here and in the
// service's canonicalizer alike, so integers beyond 2^53 round the same way on both sides.

export function canonicalize(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new Error('a number in the record is not finite');
    }
    const text = JSON.stringify(value);
    if (text === undefined) throw new Error(`cannot canonicalize a ${typeof value}`);
    return text;
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonicalize).join(',')}]`;
  }
  const object = value as Record<string, unknown>;
  const members = Object.keys(object)
    .sort()
    .map((name) => `${JSON.stringify(name)}:${canonicalize(object[name])}`);
  return `{${members.join(',')}}`;
}
