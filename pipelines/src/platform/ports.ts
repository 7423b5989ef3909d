import { createServer } from 'node:net';

import { PlatformError } from './errors.js';

/** Resolves true when nothing listens on host:port (we could bind it ourselves). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Asks the kernel for a port that is free right now on host. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port assigned on ${host}`))));
    });
  });
}

/** Fails with the port, the service and the variable that moves it, when something else already listens there. */
export async function assertPortFree(service: string, host: string, port: number, envVar: string): Promise<void> {
  if (await isPortFree(host, port)) return;
  throw new PlatformError(
    `${service} cannot listen on ${host}:${port}: another process already uses that port`,
    `stop that process (find it with: ss -ltnp 'sport = :${port}') or choose another port: ${envVar}=<port> npm start`,
  );
}

/** Parses a port from the environment, or explains which variable holds what. */
export function portFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PlatformError(
      `${name}=${JSON.stringify(raw)} is not a TCP port`,
      `set ${name} to a whole number from 1 to 65535, or unset it to use ${fallback}`,
    );
  }
  return port;
}
