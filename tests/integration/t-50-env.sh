# Point 6: environment rules.
envrun() { USER_ENV="$1" as_user "$HPCRUN" "${@:2}"; }

out=$(envrun "FOO=bar LD_PRELOAD=/x.so LD_LIBRARY_PATH=/host/lib BASH_ENV=/rc HPCRUN_BIND=/tmp" "$IMG/test.sqfs" hr-probe env 2>&1)
printf '%s\n' "$out" | grep -q '^FOO=bar$' && ok "host variables pass through" || fail "host variables pass through" "$out"
for v in LD_PRELOAD LD_LIBRARY_PATH BASH_ENV HPCRUN_BIND; do
    printf '%s\n' "$out" | grep -q "^$v=" && fail "$v is not passed in" "$out" || ok "$v is not passed in"
done
check_grep "^HPCRUN_CONTAINER=$IMG/test.sqfs\$" "HPCRUN_CONTAINER names the image" hpcrun "$IMG/test.sqfs" hr-probe env HPCRUN_CONTAINER
check_grep '^PATH=/opt/only:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin$' \
    "PATH falls back to the standard directories" envrun "PATH=/opt/only" "$IMG/test.sqfs" /usr/bin/hr-probe env PATH
check_grep '^ok$' "commands are found with a host-only PATH" envrun "PATH=/opt/only" "$IMG/test.sqfs" sh -c 'echo ok'
check_grep '^IMAGE_VAR=from-image$' "image config Env applies" hpcrun "$IMG/config.sqfs" hr-probe env IMAGE_VAR
check_grep '^SHARED=image$' "image Env wins over the host" envrun "SHARED=host" "$IMG/config.sqfs" hr-probe env SHARED
check_grep '^SHARED=cli$' "--env wins over the image" envrun "SHARED=host" --env SHARED=cli "$IMG/config.sqfs" hr-probe env SHARED
check_grep '^NEW=1$' "--env sets a new variable" hpcrun --env NEW=1 "$IMG/test.sqfs" hr-probe env NEW
out=$(envrun "FOO=bar SLURM_JOB_ID=9 PMI_RANK=2 PMIX_NAMESPACE=x OMPI_COMM_WORLD_SIZE=4 CUDA_VISIBLE_DEVICES=0" \
    --cleanenv --env KEEP=1 "$IMG/test.sqfs" hr-probe env 2>&1)
bad=""
for want in SLURM_JOB_ID=9 PMI_RANK=2 PMIX_NAMESPACE=x OMPI_COMM_WORLD_SIZE=4 CUDA_VISIBLE_DEVICES=0 \
    "HOME=$USER_HOME" "USER=$TEST_USER" TERM=dumb LANG=C.UTF-8 KEEP=1; do
    printf '%s\n' "$out" | grep -qx "$want" || bad="$bad $want"
done
[ -z "$bad" ] && ok "--cleanenv keeps the essential set and --env" || fail "--cleanenv keeps the essential set and --env" "missing:$bad in $out"
printf '%s\n' "$out" | grep -q '^FOO=' && fail "--cleanenv drops other host variables" "$out" ||
    ok "--cleanenv drops other host variables"
# no command: the image's entrypoint + cmd run in its WorkingDir
check_grep '^entry:from-image:/opt$' "no command runs the image's entrypoint+cmd in WorkingDir" hpcrun "$IMG/config.sqfs"
check_grep 'inside the hpcrun demo image' "no command and no config runs /bin/sh" \
    as_user sh -c "echo 'cat /etc/hpcrun-demo' | '$HPCRUN' '$IMG/test.sqfs'"
