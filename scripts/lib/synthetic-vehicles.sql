-- Synthetic data for the benchmark: 100,000 vehicles (ids 100001-200000, clear of the seed
-- rows) with 5 state logs each, one day apart from 2022-01-01 plus a per-vehicle offset.
-- Set-based, so it takes seconds; rerunning it replaces the synthetic rows only.
DELETE FROM state_logs WHERE vehicle_id > 100000;
DELETE FROM vehicles WHERE id > 100000;
INSERT INTO vehicles (id, make, model, state)
SELECT g,
       (ARRAY['BMW', 'Audi', 'Ford', 'Kia', 'Volvo'])[1 + g % 5],
       'Model ' || (g % 97),
       'sold'
FROM generate_series(100001, 200000) AS g;
INSERT INTO state_logs (vehicle_id, state, timestamp)
SELECT v,
       (ARRAY['quoted', 'selling', 'sold', 'quoted', 'selling'])[k],
       TIMESTAMPTZ '2022-01-01 00:00:00+00' + (v % 86400) * INTERVAL '1 second' + k * INTERVAL '1 day'
FROM generate_series(100001, 200000) AS v, generate_series(1, 5) AS k;
ANALYZE vehicles;
ANALYZE state_logs;
