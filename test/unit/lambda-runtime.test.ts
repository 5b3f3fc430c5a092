import { afterEach, describe, expect, it } from 'vitest';
import { LambdaRuntime, type LambdaFunctionConfig } from '../../local/lambda-runtime.js';

const entry = 'test/support/lambda-fixture.ts';
// Enough for the SDK to sign a request; nothing listens on the endpoint, and a refused call never gets there.
const sdkEnvironment = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
};
const config = (overrides: Partial<LambdaFunctionConfig> = {}): LambdaFunctionConfig => ({
  entry,
  environment: { ...sdkEnvironment },
  timeoutSeconds: 5,
  memorySize: 128,
  ...overrides,
});

type Result = { environment: Record<string, string>; initEnvironment: Record<string, string>; invocations: number };

let runtime: LambdaRuntime | undefined;
const started = async (functions: Record<string, LambdaFunctionConfig>, options?: ConstructorParameters<typeof LambdaRuntime>[1]) => {
  runtime = new LambdaRuntime(functions, options);
  await runtime.build();
  return runtime;
};
const gate = () => {
  let open!: () => void;
  const hold = new Promise<void>((resolve) => (open = resolve));
  return { hold, open };
};

afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
});

describe('local Lambda runtime', () => {
  it('gives each function exactly its own environment, at initialization and in every invocation', async () => {
    const processXrayVariable = process.env.AWS_XRAY_CONTEXT_MISSING;
    const lambdas = await started({
      one: config({ environment: { ...sdkEnvironment, ONLY_ONE: '1' } }),
      two: config({ environment: { ...sdkEnvironment, ONLY_TWO: '2' } }),
    });
    const [one, two] = (await Promise.all([lambdas.invoke('one', {}), lambdas.invoke('two', {})])) as Result[];
    expect(one!.environment).toMatchObject({ ...sdkEnvironment, ONLY_ONE: '1' });
    expect(one!.initEnvironment).toMatchObject({ ...sdkEnvironment, ONLY_ONE: '1' });
    expect(two!.environment).toMatchObject({ ...sdkEnvironment, ONLY_TWO: '2' });
    expect(one!.environment.ONLY_TWO).toBeUndefined();
    expect(two!.environment.ONLY_ONE).toBeUndefined();
    // Beyond its variables a container sees only what its own code set (Powertools and the X-Ray SDK set a few at
    // import): not the process's environment, which stays untouched.
    expect(one!.environment.PATH).toBeUndefined();
    expect(process.env.ONLY_ONE).toBeUndefined();
    expect(process.env.AWS_XRAY_CONTEXT_MISSING).toBe(processXrayVariable);
  });

  it('starts a container per concurrent invocation up to the reserved concurrency, reuses warm ones, and throttles beyond', async () => {
    const lambdas = await started({ fn: config({ reservedConcurrency: 2 }) });
    const first = gate();
    const second = gate();
    const running = [lambdas.invoke('fn', { hold: first.hold }), lambdas.invoke('fn', { hold: second.hold })];
    await expect(lambdas.invoke('fn', {})).rejects.toMatchObject({ name: 'TooManyRequestsException' });
    // The second starts its own container once the first has stayed busy for the scale-up delay.
    await expect.poll(() => lambdas.stats.fn!.containers).toBe(2);
    first.open();
    second.open();
    const results = (await Promise.all(running)) as Result[];
    expect(results.map((result) => result.invocations)).toEqual([1, 1]);
    // Warm: the third invocation runs in a container that served one already.
    expect(((await lambdas.invoke('fn', {})) as Result).invocations).toBe(2);
    expect(lambdas.stats.fn).toMatchObject({ invocations: 3, coldStarts: 2, throttles: 1, containers: 2, peakConcurrency: 2 });
  });

  it('lets invocations beyond the local container cap wait for a warm container instead of starting more', async () => {
    const lambdas = await started({ fn: config() }, { maxContainersPerFunction: 1 });
    const first = gate();
    const running = [lambdas.invoke('fn', { hold: first.hold }), lambdas.invoke('fn', {})];
    first.open();
    const results = (await Promise.all(running)) as Result[];
    expect(results.map((result) => result.invocations)).toEqual([1, 2]);
    expect(lambdas.stats.fn).toMatchObject({ coldStarts: 1, throttles: 0, peakConcurrency: 2 });
  });

  it('fails an invocation past its timeout like Lambda, discards its container and refuses the SDK calls it still makes', async () => {
    const lambdas = await started({ fn: config({ timeoutSeconds: 0.2 }) });
    await expect(lambdas.invoke('fn', { sleepMs: 400, call: true })).rejects.toThrow('Task timed out after 0.20 seconds');
    expect(lambdas.stats.fn).toMatchObject({ timeouts: 1, containers: 0 });
    // The next invocation is a cold start on a fresh module instance.
    expect(((await lambdas.invoke('fn', {})) as Result).invocations).toBe(1);
    expect(lambdas.stats.fn!.coldStarts).toBe(2);
    // The timed-out invocation wakes up and calls DynamoDB: refused, it never reaches the endpoint.
    await expect.poll(() => lambdas.stats.fn!.refusedCalls).toBe(1);
  });
});
