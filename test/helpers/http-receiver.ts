/**
 * A real local HTTP server that records what is POSTed to it. `respond` decides each answer (status,
 * or 'hang' to never answer), so tests can make a webhook fail, recover or time out.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  body: string;
  at: number;
}

export async function startReceiver(
  host: string,
  respond: (req: Received, count: number) => number | 'hang' = () => 200,
) {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const entry = { path: req.url ?? '/', body, at: Date.now() };
      received.push(entry);
      const answer = respond(entry, received.length);
      if (answer === 'hang') return void hanging.push(res);
      res.writeHead(answer).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path = '/') => `http://${host}:${port}${path}`,
    received,
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
