/** Free TCP ports on 127.0.0.1 for test servers. */
import { createServer, type Server } from 'node:net';

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function portOf(srv: Server): number {
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
  return addr.port;
}

function close(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.close(() => resolve()));
}

/** One port the kernel just handed out and released (a tiny race remains; servers are started right away). */
export async function freePort(): Promise<number> {
  const [p] = await freePorts(1);
  if (p === undefined) throw new Error('no port');
  return p;
}

/** n distinct free ports: all are held open together so the kernel cannot return the same one twice. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listen());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}
