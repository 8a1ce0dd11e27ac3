// The health check the cluster tests give their HTTP services on port 8080: a task takes traffic
// (the mesh's table, the VIPs and DNS answers) only once it answers, so a rolling update or a
// scale-up under load sends no client to a task that is not listening yet.

export const httpHealthCheck: readonly string[] = [
  '--health-cmd',
  'wget -q -O /dev/null http://127.0.0.1:8080/',
  '--health-interval',
  '500ms',
  '--health-retries',
  '3',
];
