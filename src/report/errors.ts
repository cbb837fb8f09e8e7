import { GeosteerError } from '../common/errors';

/** Prometheus could not be asked, or answered something other than a matrix (the message says which). */
export class ReportError extends GeosteerError {
  constructor(message: string, options?: ErrorOptions) {
    super('GS_ERR_REPORT_PROMETHEUS', message, options);
    this.name = 'ReportError';
  }
}
