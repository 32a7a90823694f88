/**
 * One HTTP(S) request whose answer is JSON, trusting a given CA: the CLI's calls to the rollout API and
 * the API's calls to the identity provider. The answer is bounded in size and time; a transport error
 * (refused, TLS, timeout) is rejected as Node gives it, for the caller to name in its own terms.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface JsonAnswer {
  status: number;
  /** The parsed body; undefined when it is empty or not JSON. */
  body: unknown;
}

export interface JsonRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** Sent as it is (give the content type in `headers`). */
  body?: string;
  /** PEM certificates trusted for an https URL, instead of the system's. */
  ca?: Buffer;
  timeoutMs: number;
  maxBytes: number;
}

/** The error a request rejects with when the answer is too large or too slow. */
export class JsonRequestFailed extends Error {
  constructor(
    readonly reason: 'too-large' | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'JsonRequestFailed';
  }
}

function readAnswer(res: IncomingMessage, maxBytes: number): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        res.destroy();
        reject(new JsonRequestFailed('too-large', `the answer is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      resolve({ status: res.statusCode ?? 0, body });
    });
  });
}

export function requestJson(url: URL, options: JsonRequest): Promise<JsonAnswer> {
  const https = url.protocol === 'https:';
  const headers = {
    accept: 'application/json',
    ...options.headers,
    ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body)) }),
  };
  return new Promise<JsonAnswer>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method: options.method ?? 'GET', headers, ...(https && options.ca ? { ca: options.ca } : {}) },
      (res) => readAnswer(res, options.maxBytes).then(resolve, reject),
    );
    req.setTimeout(options.timeoutMs, () =>
      req.destroy(new JsonRequestFailed('timeout', `no answer within ${options.timeoutMs / 1000} s`)),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
