# FerretDB's PostgreSQL side for the compose smoke test, sourced once by the postgres service's
# entrypoint when it initialises its data directory (compose.podman.yaml mounts it into
# /docker-entrypoint-initdb.d/, which the official postgres image reads the same way).
#
# FerretDB (tests/image/ferretdb) opens its PostgreSQL connections with the user and password a
# MongoDB client authenticated with (PLAIN). So the MongoDB users of compose.yaml are PostgreSQL
# roles here:
#  - the admin ($POSTGRES_USER) runs `txlog-service setup`: it owns the schema and tables
#    FerretDB creates for the txlog database;
#  - txlog_app, the service's user, with its password from the compose secret
#    txlog_app_password, gets what the role ordersysTxlogAppender grants on MongoDB on the
#    records collection that setup creates: read and insert (SELECT, INSERT on every table the
#    admin creates in this database), no update, delete, index change or drop. The service
#    creates its other collections (tree hashes, checkpoints, ...) at their first insert, as an
#    insert does on MongoDB; here that takes CREATE on the schema (the tables it creates are its
#    own: the append-only guarantee of the grants covers the records only) and UPDATE on
#    FerretDB's catalog table _ferretdb_database_metadata, which FerretDB creates with the first
#    collection (an event trigger grants it then). With UPDATE on the catalog a user could point
#    a collection at another table: this is weaker than MongoDB's role, and a dev stand-in only.
psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v admin="$POSTGRES_USER" -v app_password="$(cat /run/secrets/txlog_app_password)" <<'SQL'
CREATE DATABASE ferretdb OWNER :"admin";
CREATE ROLE txlog_app LOGIN PASSWORD :'app_password';
\connect ferretdb
ALTER DEFAULT PRIVILEGES FOR ROLE :"admin" GRANT USAGE, CREATE ON SCHEMAS TO txlog_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"admin" GRANT SELECT, INSERT ON TABLES TO txlog_app;
CREATE FUNCTION grant_ferretdb_catalog() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
  created record;
BEGIN
  FOR created IN SELECT object_identity FROM pg_event_trigger_ddl_commands()
                 WHERE object_type = 'table' AND object_identity LIKE '%._ferretdb_database_metadata'
  LOOP
    EXECUTE format('GRANT UPDATE ON %s TO txlog_app', created.object_identity);
  END LOOP;
END
$$;
CREATE EVENT TRIGGER grant_ferretdb_catalog ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION grant_ferretdb_catalog();
SQL
