import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { localStackName, metricDefinitions, metricNamespace, serviceName, stackNameEnvVar } from '../../lib/telemetry.js';
import type { Log, LogAttributes, Metrics } from '../domain/ports.js';

/** The Powertools logger, metrics and tracer of one Lambda container. */
export interface Telemetry {
  logger: Logger;
  metrics: PowertoolsMetrics;
  tracer: Tracer;
}

/**
 * Builds the Powertools utilities from the environment: log level from POWERTOOLS_LOG_LEVEL; metrics off with
 * POWERTOOLS_METRICS_DISABLED=true (they are still collected, so tests can read them, but never printed); tracing
 * only inside Lambda and unless POWERTOOLS_TRACE_ENABLED=false.
 */
export function createTelemetry(env: NodeJS.ProcessEnv = process.env): Telemetry {
  const service = env.POWERTOOLS_SERVICE_NAME || serviceName;
  return {
    logger: new Logger({ serviceName: service }),
    // The alarms select these exact dimensions, so the service dimension is the constant, whatever the environment says.
    metrics: new PowertoolsMetrics({
      namespace: metricNamespace,
      serviceName,
      defaultDimensions: { stack: env[stackNameEnvVar] || localStackName },
    }),
    tracer: new Tracer({ serviceName: service }),
  };
}

/** The container's telemetry, built once at module load and shared by every handler and adapter. */
export const telemetry = createTelemetry();

/** What the domain's deps take from the container's telemetry. */
export const domainTelemetry = (from: Telemetry = telemetry): { logger: Log; metrics: Metrics } => ({
  logger: logPort(from.logger),
  metrics: metricsPort(from.metrics),
});

/** The domain's log port over the Powertools logger: entries get its Lambda context and appended keys. */
export function logPort(logger: Logger): Log {
  return {
    debug: (message, attributes) => logger.debug(message, attributes ?? {}),
    info: (message, attributes) => logger.info(message, attributes ?? {}),
    warn: (message, attributes) => logger.warn(message, attributes ?? {}),
    error: (message, attributes) => logger.error(message, attributes ?? {}),
  };
}

/** The domain's metrics port over Powertools Metrics: names and units from lib/telemetry.ts. */
export function metricsPort(metrics: PowertoolsMetrics): Metrics {
  return {
    add: (metric, value = 1) => {
      const { name, unit } = metricDefinitions[metric];
      metrics.addMetric(name, MetricUnit[unit], value);
    },
  };
}

/** A logger that adds `keys` to every entry of `log` (for one fanout job among the batch's concurrent ones). */
export function withKeys(log: Log, keys: LogAttributes): Log {
  const merged = (attributes?: LogAttributes) => ({ ...keys, ...attributes });
  return {
    debug: (message, attributes) => log.debug(message, merged(attributes)),
    info: (message, attributes) => log.info(message, merged(attributes)),
    warn: (message, attributes) => log.warn(message, merged(attributes)),
    error: (message, attributes) => log.error(message, merged(attributes)),
  };
}
