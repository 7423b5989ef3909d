import { fileURLToPath } from 'node:url';

export const MONITORING_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const GENERATED = fileURLToPath(new URL('../../generated/', import.meta.url));
export const RUNBOOKS_DIR = fileURLToPath(new URL('../../../runbooks/', import.meta.url));
