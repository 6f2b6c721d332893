-- Synthetic webhooks for scripts/console-bench: :rows webhooks of tenant `default` over the
-- last 30 days (ids are ULIDs of their creation time, as the api makes them), one provider
-- row each (gas or internet), 100 callback hosts, and one delivery attempt for each webhook
-- of the last hour. Statuses: 90 % delivered, 5 % parked, 3 % delivering, 2 % collecting.

CREATE FUNCTION pg_temp.ulid(ms bigint, n bigint) RETURNS text AS $$
DECLARE
  alphabet constant text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  id text := '';
  v bigint := ms;
BEGIN
  FOR i IN 1..10 LOOP
    id := substr(alphabet, (v % 32)::int + 1, 1) || id;
    v := v / 32;
  END LOOP;
  v := n;
  FOR i IN 1..16 LOOP
    id := id || substr(alphabet, (v % 32)::int + 1, 1);
    v := v / 32;
  END LOOP;
  RETURN id;
END
$$ LANGUAGE plpgsql IMMUTABLE;

CREATE TEMP TABLE seed AS
SELECT n,
       pg_temp.ulid((extract(epoch FROM at) * 1000)::bigint, n) AS id,
       at AS created_at,
       CASE WHEN n % 100 < 90 THEN 'delivered'
            WHEN n % 100 < 95 THEN 'parked'
            WHEN n % 100 < 98 THEN 'delivering'
            ELSE 'collecting' END AS status
FROM (SELECT n, now() - make_interval(secs => (:rows - n) * (30 * 86400.0 / :rows)) AS at
      FROM generate_series(1, :rows) AS n) AS times;

INSERT INTO webhooks (id, tenant_id, callback_url, status, outcome, created_at, deadline_at,
                      collected_at, delivered_at, updated_at, payload, delivery_attempts,
                      attempt_limit, delivery_trigger, next_run_at, claimed_by)
SELECT id,
       'default',
       'https://hooks-' || (n % 100) || '.example.com/callback',
       status,
       CASE WHEN status = 'collecting' THEN NULL ELSE 'completed' END,
       created_at,
       created_at + interval '1 day',
       CASE WHEN status = 'collecting' THEN NULL ELSE created_at + interval '200 milliseconds' END,
       CASE WHEN status = 'delivered' THEN created_at + make_interval(secs => 0.3 + (n % 50) / 10.0) END,
       created_at,
       NULL,
       CASE WHEN status IN ('delivered', 'parked') THEN 1 ELSE 0 END,
       1,
       'scheduled',
       CASE WHEN status IN ('delivering', 'collecting') THEN now() + interval '1 hour' END,
       NULL
FROM seed;

INSERT INTO webhook_providers (webhook_id, provider, position, status, attempts, last_error,
                               data, fetched_at, updated_at)
SELECT id, CASE WHEN n % 2 = 0 THEN 'gas' ELSE 'internet' END, 0, 'fetched', 1, NULL,
       '[{"amount": 1}]', created_at, created_at
FROM seed;

INSERT INTO delivery_attempts (webhook_id, number, trigger, url, started_at, duration_ms,
                               status_code, error_kind, error_message, response_body,
                               next_attempt_at)
SELECT id, 1, 'scheduled', callback_url, created_at + interval '250 milliseconds', 40,
       CASE WHEN status = 'delivered' THEN 200 ELSE 500 END, NULL, NULL, 'ok', NULL
FROM webhooks
WHERE status IN ('delivered', 'parked') AND created_at > now() - interval '1 hour';

-- What autovacuum does to a table this size soon after it is written: statistics, and the
-- visibility map that lets index-only scans skip the table.
VACUUM ANALYZE webhooks;
VACUUM ANALYZE webhook_providers;
VACUUM ANALYZE delivery_attempts;
