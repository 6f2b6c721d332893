#!/bin/sh
# Run once by the postgres image when it creates the database: lets a streaming replica on
# the compose network (the `replica` profile's postgres-replica) connect for replication.
set -eu
echo "host replication all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
