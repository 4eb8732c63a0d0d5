// What the fake exchange servers share: an HTTP server on a free loopback port whose close() also ends kept-alive
// sockets, and a list of injectable faults the subclass consults for each request.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export abstract class LoopbackServer<F> {
  url = ''
  protected readonly faults: (F & { seen: number; used: number })[] = []
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  protected abstract handle(req: IncomingMessage, res: ServerResponse): Promise<void>

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res))
    this.server.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    const { port } = this.server.address() as AddressInfo
    this.url = `http://127.0.0.1:${port}`
    return this.url
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  /** Adds a fault; returns it so a test can read how often it fired. */
  inject(f: F): F & { seen: number; used: number } {
    const entry = { ...f, seen: 0, used: 0 }
    this.faults.push(entry)
    return entry
  }

  clearFaults(): void {
    this.faults.length = 0
  }
}
