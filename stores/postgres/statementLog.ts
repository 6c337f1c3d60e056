/**
 * Every statement with its duration in a csvlog under `<data dir>/log`: what the telemetry
 * collector reads. Shared by the stack's nodes and the nodes a scale-out starts.
 */
export const STATEMENT_LOG_CONF = [
  'logging_collector = on',
  "log_destination = 'csvlog'",
  "log_directory = 'log'",
  "log_filename = 'postgresql-%Y-%m-%d_%H%M%S.log'",
  'log_file_mode = 0644',
  "log_rotation_age = '1d'",
  "log_rotation_size = '100MB'",
  'log_min_duration_statement = 0',
  "log_timezone = 'UTC'",
];
