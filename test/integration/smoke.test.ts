import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { checks, readOutputs, type CheckResult } from '../../scripts/smoke.js';

const parley = inject('parley');
const dir = mkdtempSync(join(tmpdir(), 'parley-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The local stack's outputs in the shape `cdk deploy --outputs-file` writes for the real stack. */
function writeOutputs(name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

const localOutputs = () => ({
  ParleyLocal: {
    WebSocketUrl: parley.wsUrl,
    CallbackUrl: parley.callbackUrl,
    JwtIssuer: 'parley-local',
    PresenceTableName: parley.tableNames.presence,
    FanoutQueueUrl: parley.queueUrls.fanout,
  },
  SomeOtherStack: { BucketName: 'b' },
});

/** Runs the script as `npm run smoke` does (tsx), so the command line and exit code are tested too. */
function runScript(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/smoke.ts', ...args], {
      env: {
        ...process.env,
        // The optional IAM part reads the presence table: point the SDK at DynamoDB Local, as the handlers are.
        AWS_ENDPOINT_URL_DYNAMODB: parley.dynamodbEndpoint,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_REGION: 'us-east-1',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => (stdout += String(data)));
    child.stderr.on('data', (data) => (stderr += String(data)));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('npm run smoke', () => {
  it('passes every check against the local stack, the IAM-only 410 check included', async () => {
    const outputs = writeOutputs('outputs.json', localOutputs());
    const started = Date.now();
    const { code, stdout, stderr } = await runScript(['--outputs', outputs, '--local-dev-tokens', parley.httpUrl, '--json']);
    const { results } = JSON.parse(stdout || '{"results":[]}') as { results: CheckResult[] };
    const summary = results.map((r) => `${r.status} ${r.name}: ${r.detail}`).join('\n');
    expect(stderr, summary).toBe('');
    expect(results.map((r) => r.name)).toEqual(['test users', ...checks.map((check) => check.name), 'cleanup']);
    expect(
      results.filter((r) => r.status !== 'pass'),
      summary,
    ).toEqual([]);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('prints a table and fails with a clear message when the outputs are unusable', async () => {
    const table = await runScript(['--outputs', writeOutputs('table.json', localOutputs()), '--local-dev-tokens', parley.httpUrl]);
    expect(table.stdout).toMatch(/^PASS {2}1:1 delivery/m);
    expect(table.stdout).toContain('all checks passed');

    const missing = await runScript(['--outputs', writeOutputs('missing.json', { Parley: { WebSocketUrl: '' } })]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('stack Parley in');
    expect(missing.stderr).toContain('has no WebSocketUrl output');
  });

  it('reads the stack outputs by their real keys and asks for --stack when it is ambiguous', () => {
    const two = { A: { WebSocketUrl: 'wss://a' }, B: { WebSocketUrl: 'wss://b', UserPoolId: 'eu-west-1_x', UserPoolClientId: 'c' } };
    expect(() => readOutputs(two, 'f.json')).toThrow('several Parley stacks (A, B): pass --stack NAME');
    expect(readOutputs(two, 'f.json', 'B')).toMatchObject({ stackName: 'B', webSocketUrl: 'wss://b', userPoolId: 'eu-west-1_x', userPoolClientId: 'c' });
    expect(() => readOutputs(two, 'f.json', 'C')).toThrow('stack C is not in f.json');
    expect(() => readOutputs({ X: { Foo: 'bar' } }, 'f.json')).toThrow('no stack in f.json has a WebSocketUrl output');
  });
});
