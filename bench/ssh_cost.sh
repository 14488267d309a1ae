#!/bin/sh
# The agent-side CPU of one libssh session by key exchange and cipher (bench/ssh_cost.c), against
# a private sshd on 127.0.0.1:2222 in a network namespace of its own. As root:
#     sh bench/ssh_cost.sh [SESSIONS]        (default 40 sessions per line)
set -eu
n=${1:-40}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/pgdeploy-ssh-cost.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cc -O2 -Wall -o "$dir/ssh_cost" "$here/ssh_cost.c" -lssh
ssh-keygen -q -t ed25519 -N '' -f "$dir/host"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client"
cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1:2222
HostKey $dir/host
PidFile $dir/sshd.pid
UsePAM no
PasswordAuthentication no
AuthorizedKeysFile $dir/client.pub
StrictModes no
PermitRootLogin prohibit-password
UseDNS no
PrintMotd no
MaxStartups 100:30:200
CONF
unshare --net -- sh -ec "
ip link set lo up
/usr/sbin/sshd -f '$dir/sshd_config' -E '$dir/sshd.log'
sleep 0.5
for bytes in 0 41000; do
  for kex_cipher in ':' 'curve25519-sha256:aes256-gcm@openssh.com' 'curve25519-sha256:aes128-ctr' \
                    'ecdh-sha2-nistp256:aes256-gcm@openssh.com'; do
    printf 'command +%s bytes, ' \$bytes
    '$dir/ssh_cost' 2222 '$dir/client' $n \"\${kex_cipher%%:*}\" \"\${kex_cipher#*:}\" \$bytes
  done
done
kill \$(cat '$dir/sshd.pid')
"
