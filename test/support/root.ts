/** Root-only tests: skipped with a reason when not root, but under CI a skip is a failure. */
export const isRoot = process.getuid?.() === 0;

export function rootSkipReason(): string | false {
  if (isRoot) return false;
  const reason = 'needs root (network namespaces, ip addr)';
  if (process.env.CI === 'true') throw new Error(`${reason}, and CI=true forbids skipping`);
  return reason;
}
