export { buildReport, increases, isPeriod, PERIODS, type Period, type Report, type ReportRequest } from './build';
export { ReportError } from './errors';
export { queryRange, type Grid, type RangeSeries } from './prometheus';
export { renderHtml, renderMarkdown } from './render';
export { writeReport } from './write';
