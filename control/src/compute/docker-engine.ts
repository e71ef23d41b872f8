/**
 * A small client of the Docker Engine API (the calls the container driver makes), over the unix
 * socket or TCP address in DOCKER_HOST, with node:http alone. Docker and podman's API service both
 * answer it. Errors keep the engine's own message, which names the cause (no such image, a registry's
 * refusal, a device driver that is missing).
 */
import { type IncomingMessage, request } from 'node:http';
import type { Duplex, Readable } from 'node:stream';

/** API version asked for: Docker 20.10 and podman 4 both speak it. */
const API = '/v1.41';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface EngineAddress {
  socketPath?: string;
  host?: string;
  port?: number;
}

/** Parses DOCKER_HOST as Docker's tools do: `unix:///path` or `tcp://host:port`. */
export function parseDockerHost(raw: string): EngineAddress {
  if (raw.startsWith('unix://')) return { socketPath: raw.slice('unix://'.length) };
  if (raw.startsWith('tcp://') || raw.startsWith('http://')) {
    const u = new URL(raw.replace(/^tcp:/, 'http:'));
    return { host: u.hostname, port: Number(u.port || 2375) };
  }
  throw new Error(`DOCKER_HOST must be unix:///path/to/socket or tcp://host:port, got "${raw}"`);
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  State: string;
  Labels: Record<string, string>;
}

export interface CreateContainer {
  Image: string;
  Env?: string[];
  Labels?: Record<string, string>;
  Cmd?: string[];
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  AttachStdin?: boolean;
  HostConfig?: {
    NetworkMode?: string;
    DeviceRequests?: { Driver: string; DeviceIDs?: string[]; Count?: number; Capabilities: string[][] }[];
    Init?: boolean;
  };
}

export class DockerEngine {
  constructor(private readonly address: EngineAddress) {}

  /** One call; the body parsed as JSON (or text), an EngineError for a status of 400 and above. */
  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.open(method, path, body, headers);
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400)
      throw new EngineError(engineMessage(text, res), res.statusCode ?? 500);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  /** Opens a call and returns the response unread (for streams). */
  open(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          ...this.address,
          method,
          path: `${API}${path}`,
          headers: {
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
            ...headers,
          },
        },
        resolve,
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async ping(): Promise<void> {
    await this.call('GET', '/_ping');
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    return this.call('GET', '/version');
  }

  /** True when the image is in the engine's store. */
  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.call('GET', `/images/${encodeURIComponent(ref)}/json`);
      return true;
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * Pulls an image. The engine answers 200 and then streams progress; a failure mid-way arrives as
   * an `error` line in that stream, not as a status, so the stream is read to its end.
   */
  async pull(ref: string, registryAuth?: string): Promise<void> {
    const at = ref.indexOf('@');
    const query =
      at > 0
        ? `fromImage=${encodeURIComponent(ref)}`
        : `fromImage=${encodeURIComponent(ref.replace(/:([^/:]+)$/, ''))}&tag=${encodeURIComponent(/:([^/:]+)$/.exec(ref)?.[1] ?? 'latest')}`;
    const res = await this.open(
      'POST',
      `/images/create?${query}`,
      undefined,
      registryAuth ? { 'x-registry-auth': registryAuth } : {},
    );
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400)
      throw new EngineError(engineMessage(text, res), res.statusCode ?? 500);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let event: { error?: string; errorDetail?: { message?: string } };
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      const error = event.errorDetail?.message ?? event.error;
      if (error) throw new EngineError(error, 500);
    }
  }

  /**
   * Builds an image from a tar stream holding a Containerfile and its context. Like a pull, a
   * failure arrives as an `error` line in the progress stream.
   */
  async build(context: Readable, tag: string): Promise<void> {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        {
          ...this.address,
          method: 'POST',
          path: `${API}/build?t=${encodeURIComponent(tag)}&dockerfile=Containerfile&rm=1&q=1`,
          headers: { 'content-type': 'application/x-tar' },
        },
        resolve,
      );
      req.on('error', reject);
      context.on('error', (err) => req.destroy(err));
      context.pipe(req);
    });
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400)
      throw new EngineError(engineMessage(text, res), res.statusCode ?? 500);
    for (const line of text.split('\n')) {
      try {
        const event = JSON.parse(line) as { error?: string };
        if (event.error) throw new EngineError(event.error, 500);
      } catch (err) {
        if (err instanceof EngineError) throw err;
      }
    }
  }

  async create(name: string, spec: CreateContainer): Promise<string> {
    const out = await this.call<{ Id: string }>(
      'POST',
      `/containers/create?name=${encodeURIComponent(name)}`,
      spec,
    );
    return out.Id;
  }

  async start(id: string): Promise<void> {
    await this.call('POST', `/containers/${id}/start`);
  }

  /** Resolves with the exit code once the container has stopped (at once if it already has). */
  async wait(id: string): Promise<number> {
    const out = await this.call<{ StatusCode: number }>(
      'POST',
      `/containers/${id}/wait?condition=not-running`,
    );
    return out.StatusCode;
  }

  /** SIGTERM, then SIGKILL after `graceS` seconds; resolves once it has stopped. */
  async stop(id: string, graceS: number): Promise<void> {
    await this.call('POST', `/containers/${id}/stop?t=${graceS}`).catch(ignoreGone);
  }

  async kill(id: string, signal = 'SIGKILL'): Promise<void> {
    await this.call('POST', `/containers/${id}/kill?signal=${signal}`).catch(ignoreGone);
  }

  async remove(id: string): Promise<void> {
    await this.call('DELETE', `/containers/${id}?force=true&v=true`).catch(ignoreGone);
  }

  async list(label: string): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
    return this.call('GET', `/containers/json?all=true&filters=${filters}`);
  }

  async inspect(id: string): Promise<{ State: { Running: boolean; ExitCode: number; Error?: string } }> {
    return this.call('GET', `/containers/${id}/json`);
  }

  /** The last lines a container printed, both streams. */
  async tail(id: string, lines: number): Promise<string[]> {
    const res = await this.open('GET', `/containers/${id}/logs?stdout=true&stderr=true&tail=${lines}`);
    if ((res.statusCode ?? 500) >= 400) return [];
    const out: string[] = [];
    await demux(res, (_stream, line) => out.push(line));
    return out;
  }

  /**
   * Follows a container's output line by line until it ends; resolves then. From its first line, or
   * with `sinceMs` from the lines printed at or after that moment (a control that takes over a
   * running container relays only what it has not relayed before).
   */
  async follow(
    id: string,
    onLine: (stream: 'stdout' | 'stderr', line: string) => void,
    sinceMs?: number,
  ): Promise<void> {
    const since = sinceMs === undefined ? '' : `&since=${engineTime(sinceMs)}`;
    const res = await this.open('GET', `/containers/${id}/logs?stdout=true&stderr=true&follow=true${since}`);
    if ((res.statusCode ?? 500) >= 400)
      throw new EngineError(engineMessage(await readAll(res), res), res.statusCode ?? 500);
    await demux(res, onLine);
  }

  /** A writable stream into a container's stdin (created with OpenStdin). */
  attachStdin(id: string): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const req = request({
        ...this.address,
        method: 'POST',
        path: `${API}/containers/${id}/attach?stream=true&stdin=true`,
        headers: { connection: 'Upgrade', upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket) => {
        // A write after the container ended fails: the relay stops there, control goes on.
        socket.on('error', () => {});
        resolve(socket);
      });
      req.on('response', async (res) => {
        reject(
          new EngineError(
            `attach to ${id}: ${engineMessage(await readAll(res), res)}`,
            res.statusCode ?? 500,
          ),
        );
      });
      req.on('error', reject);
      req.end();
    });
  }
}

/**
 * A moment as the logs API's `since` takes it: Unix seconds with nine decimals. Docker reads
 * the decimals as nanoseconds only when there are nine of them; podman reads any number.
 */
export function engineTime(ms: number): string {
  const whole = Math.floor(ms);
  return `${Math.floor(whole / 1000)}.${String((whole % 1000) * 1_000_000).padStart(9, '0')}`;
}

/** The container is gone or already stopped: what a kill or remove wanted anyway. */
function ignoreGone(err: unknown): void {
  if (err instanceof EngineError) {
    if ([304, 404, 409].includes(err.status)) return;
    // podman answers 500 for a container that is not running.
    if (/state improper|not running|no such container/i.test(err.message)) return;
  }
  throw err;
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function engineMessage(text: string, res: IncomingMessage): string {
  try {
    const parsed = JSON.parse(text) as { message?: string };
    if (parsed.message) return parsed.message;
  } catch {
    // Not JSON: the text itself.
  }
  return text.trim() || `HTTP ${res.statusCode}`;
}

/**
 * Splits the engine's log stream into lines. Without a TTY each frame has an 8-byte header (stream
 * type, three zero bytes, big-endian length); a line may span frames.
 */
function demux(
  res: IncomingMessage,
  onLine: (stream: 'stdout' | 'stderr', line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const partial: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
    const emit = (stream: 'stdout' | 'stderr', text: string) => {
      const parts = (partial[stream] + text).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const p of parts) onLine(stream, p.replace(/\r$/, ''));
    };
    res.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const size = buf.readUInt32BE(4);
        if (buf.length < 8 + size) break;
        const stream = buf[0] === 2 ? 'stderr' : 'stdout';
        emit(stream, buf.subarray(8, 8 + size).toString('utf8'));
        buf = buf.subarray(8 + size);
      }
    });
    res.on('end', () => {
      for (const s of ['stdout', 'stderr'] as const) if (partial[s]) onLine(s, partial[s]);
      resolve();
    });
    res.on('error', reject);
  });
}
