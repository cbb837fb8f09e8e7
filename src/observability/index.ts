export { createLogger, formatLine, isLogLevel, LOG_LEVELS, prettyStream, rateLimited, type Logger, type LoggerOptions, type LogLevel } from './logger';
export { adminTokenFromEnv, hostAllowed, startAdminHttp, type AdminHttp, type AdminHttpOptions, type Route } from './http';
export { adminHostsFrom, DEFAULT_METRICS_LISTEN, healthRoutes, metricsListenFrom, metricsRoute, startAdmin, type AdminListenOptions } from './routes';
export {
  ClusterMetrics,
  collectProcessMetrics,
  globalRegistry,
  ProbeMetrics,
  qtypeName,
  rcodeName,
  Registry,
  registerDnsMetrics,
  reportToClusterPrimary,
  RoutingCounters,
  scraped,
  ServeMetrics,
  type Aggregator,
  type Sample,
  type ServeMetricsSource,
} from './metrics';
export { HealthEvents, healthEvents, type AlertEvent, type HealthEventInput } from './events';
export { WebhookSender, webhookCounter, type WebhookOptions, type WebhookResult } from './webhook';
export { queryLogger } from './query-log';
export { registerFleetMetrics, type FleetView } from './fleet-metrics';
export { controlRoutes, type ControlTable, type ControlTarget } from './control';
