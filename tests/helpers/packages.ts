/** Whether `pkg` resolves from the tests: optional backends may or may not be installed. */
export function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
