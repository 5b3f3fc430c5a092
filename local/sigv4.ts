import { createHash, createHmac, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/** Reads a request body, keeping at most `limit` bytes but measuring and hashing all of it (for SigV4). */
export async function readBody(request: IncomingMessage, limit: number): Promise<{ body: Buffer; size: number; sha256: string }> {
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of request) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks).subarray(0, limit), size, sha256: hash.digest('hex') };
}

type Sha256Constructor = ConstructorParameters<typeof SignatureV4>[0]['sha256'];
type SourceData = string | ArrayBuffer | ArrayBufferView;

const toBuffer = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

/** node:crypto as the hash the signer asks for (SHA-256, or HMAC-SHA-256 with a secret); the signing is the SDK's. */
const NodeSha256: Sha256Constructor = class {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
};

/** How far a request's X-Amz-Date may be from the clock, as on AWS. */
const maxClockSkewMs = 5 * 60 * 1000;

/**
 * Checks the SigV4 signature of an API Gateway call (service `execute-api`: @connections, the server API) by signing it again
 * with `@smithy/signature-v4`, the signer the AWS SDK uses, and comparing. Answers what AWS answers (403 with its
 * error type) or undefined when the signature is valid.
 */
export class SignatureVerifier {
  private readonly signer: SignatureV4;

  constructor(
    private readonly credentials: { accessKeyId: string; secretAccessKey: string },
    private readonly region: string,
  ) {
    this.signer = new SignatureV4({ credentials, region, service: 'execute-api', sha256: NodeSha256, uriEscapePath: true });
  }

  async verify(request: IncomingMessage, bodySha256: string): Promise<{ type: string; message: string } | undefined> {
    const authorization = request.headers.authorization;
    if (!authorization) return { type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
    const parsed = authorization.match(
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/,
    );
    const amzDate = header(request, 'x-amz-date');
    const date = amzDate?.match(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/);
    if (!parsed || !date) {
      return { type: 'IncompleteSignatureException', message: 'Authorization header requires Credential, SignedHeaders and Signature, and X-Amz-Date' };
    }
    const [, accessKeyId, scopeDate, scopeRegion, scopeService, signedHeaderList, signature] = parsed as unknown as string[];
    if (accessKeyId !== this.credentials.accessKeyId) {
      return { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
    }
    if (scopeRegion !== this.region || scopeService !== 'execute-api' || scopeDate !== amzDate!.slice(0, 8)) {
      return { type: 'InvalidSignatureException', message: `Credential should be scoped to ${amzDate!.slice(0, 8)}/${this.region}/execute-api.` };
    }
    const [, year, month, day, hours, minutes, seconds] = date.map(Number) as number[];
    const signingDate = new Date(Date.UTC(year!, month! - 1, day!, hours!, minutes!, seconds!));
    if (Number.isNaN(signingDate.getTime()) || Math.abs(Date.now() - signingDate.getTime()) > maxClockSkewMs) {
      return { type: 'InvalidSignatureException', message: `Signature expired or not yet valid: ${amzDate} is more than 5 minutes from the server time.` };
    }
    const signedHeaders = signedHeaderList!.split(';');
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) {
      const value = header(request, name);
      if (value === undefined) return this.mismatch();
      headers[name] = value;
    }
    // The body's hash as measured; a signed x-amz-content-sha256 must state the same.
    if (headers['x-amz-content-sha256'] !== undefined && headers['x-amz-content-sha256'] !== bodySha256) return this.mismatch();
    headers['x-amz-content-sha256'] = bodySha256;
    const [path = '/', query = ''] = (request.url ?? '/').split('?', 2);
    const signed = await this.signer.sign(
      {
        method: request.method ?? 'GET',
        protocol: 'http:',
        hostname: headers.host ?? '',
        path,
        query: Object.fromEntries(new URLSearchParams(query)),
        headers,
      },
      {
        signingDate,
        signableHeaders: new Set(signedHeaders),
        unsignableHeaders: signedHeaders.includes('x-amz-content-sha256') ? undefined : new Set(['x-amz-content-sha256']),
      },
    );
    const expected = String(signed.headers.authorization ?? '').match(/Signature=([0-9a-f]{64})$/)?.[1] ?? '';
    const same = expected.length === signature!.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature!));
    return same && String(signed.headers.authorization).includes(`SignedHeaders=${signedHeaderList},`) ? undefined : this.mismatch();
  }

  private mismatch() {
    return {
      type: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
}

/** A request header's value, repeated values joined with commas. */
export function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : value;
}

/** A JSON answer as API Gateway gives it, with its error type in `x-amzn-ErrorType` when it is an error. */
export function sendJson(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    ...(errorType ? { 'x-amzn-ErrorType': errorType } : {}),
  });
  response.end(payload);
}
