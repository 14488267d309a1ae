# The layers of src/ and what each may use: the one table that both the build (one library per
# layer, linking only these) and cmake/check_layers.cmake (no #include of another layer) read.
# A folder of src/ is a layer; src/main.cpp is the program.
# Each list holds every layer the folder may include, not only the next one down.
set(PGDEPLOY_LAYERS util cluster pg pgbouncer remote deploy report cli agent watch)
set(PGDEPLOY_USES_util "")  # nothing of ours
set(PGDEPLOY_USES_cluster util)
set(PGDEPLOY_USES_pg cluster util)
set(PGDEPLOY_USES_pgbouncer cluster util)
set(PGDEPLOY_USES_remote util)
set(PGDEPLOY_USES_deploy pgbouncer remote pg cluster util)
set(PGDEPLOY_USES_report deploy pgbouncer remote cluster util)
set(PGDEPLOY_USES_cli report deploy pgbouncer remote pg cluster util)
set(PGDEPLOY_USES_agent cli report deploy pgbouncer remote pg cluster util)
set(PGDEPLOY_USES_watch agent cli report deploy pgbouncer remote pg cluster util)
set(PGDEPLOY_USES_main watch agent cli report deploy pgbouncer remote pg cluster util)
