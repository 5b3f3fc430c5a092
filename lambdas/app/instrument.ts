import type { Context } from 'aws-lambda';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { telemetry as containerTelemetry, type Telemetry } from '../shared/telemetry.js';

/** Log keys of one invocation, read from its event (connection, action, user); undefined values are left out. */
export type InvocationKeys<E> = (event: E) => Record<string, string | number | undefined>;

/** A Lambda handler as the runtime calls it (tests may leave the context out). */
export type LambdaHandler<E, R> = (event: E, context?: Context) => Promise<R>;

/**
 * Wraps a handler with Parley's telemetry, the one way every handler gets it: the Lambda context (function name,
 * request id, cold start) and `keys(event)` on every log line of the invocation, cleared afterwards so that a warm
 * container never carries them into its next invocation; a `## <name>` X-Ray subsegment annotated with the keys;
 * and the invocation's metrics flushed (one EMF line) when it ends, also when it throws.
 */
export function instrumented<E, R>(
  name: string,
  handler: LambdaHandler<E, R>,
  keys?: InvocationKeys<E>,
  telemetry: Telemetry = containerTelemetry,
): LambdaHandler<E, R> {
  const { logger, metrics, tracer } = telemetry;
  return async (event, context) => {
    logger.refreshSampleRateCalculation();
    if (context) logger.addContext(context);
    const invocationKeys = definedValues(keys?.(event) ?? {});
    logger.appendKeys(invocationKeys);
    try {
      return await traced(tracer, name, invocationKeys, () => handler(event, context));
    } finally {
      // Publishing nothing only prints a warning.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      logger.resetKeys();
    }
  };
}

const definedValues = (keys: Record<string, string | number | undefined>) =>
  Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined)) as Record<string, string | number>;

/** Runs `run` in a subsegment of the function's segment; just runs it when tracing is off (outside Lambda). */
async function traced<R>(tracer: Tracer, name: string, annotations: Record<string, string | number>, run: () => Promise<R>): Promise<R> {
  if (!tracer.isTracingEnabled()) return run();
  const segment = tracer.getSegment();
  if (!segment) return run();
  const subsegment = segment.addNewSubsegment(`## ${name}`);
  tracer.setSegment(subsegment);
  tracer.annotateColdStart();
  tracer.addServiceNameAnnotation();
  for (const [key, value] of Object.entries(annotations)) tracer.putAnnotation(key, value);
  try {
    return await run();
  } catch (error) {
    tracer.addErrorAsMetadata(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(segment);
  }
}
