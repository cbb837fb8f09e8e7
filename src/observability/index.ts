export { createLogger, rateLimited, type Logger } from './logger';
