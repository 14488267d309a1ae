/* The agent-side CPU of one SSH session made with libssh's defaults, or with a given key
 * exchange and cipher (issue 26; bench/README.md, "The agent's side of a cold push").
 *
 *   ssh_cost PORT KEY N KEX CIPHER COMMAND_BYTES
 *
 * N sequential sessions to root@127.0.0.1:PORT (public key KEY, host key not checked): connect
 * and key exchange, login, `exec true` (with COMMAND_BYTES of a shell comment after it: the
 * size of the program in a push command), read to EOF. KEX and CIPHER "" = libssh's default.
 * Prints what was negotiated and the CPU per session (getrusage), by phase. bench/ssh_cost.sh
 * builds it and runs it against a private sshd. */
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)r.ru_utime.tv_sec + (double)r.ru_stime.tv_sec +
         (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: ssh_cost PORT KEY N KEX CIPHER COMMAND_BYTES\n");
    return 2;
  }
  unsigned port = (unsigned)atoi(argv[1]);
  int n = atoi(argv[3]), no = 0;
  const char *kex = argv[4], *cipher = argv[5];
  size_t pad = (size_t)atol(argv[6]);
  char* command = malloc(pad + 16);
  strcpy(command, "true #");
  memset(command + 6, 'x', pad);
  command[6 + pad] = '\0';
  ssh_key key = NULL;
  if (ssh_pki_import_privkey_file(argv[2], NULL, NULL, NULL, &key) != SSH_OK) {
    fprintf(stderr, "cannot read the key %s\n", argv[2]);
    return 1;
  }
  double handshake = 0, login = 0, exec = 0, start = cpu();
  for (int i = 0; i < n; i++) {
    ssh_session s = ssh_new();
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, "root");
    ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &no);
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
    if (*kex) ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, kex);
    if (*cipher) {
      ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, cipher);
      ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, cipher);
    }
    double a = cpu();
    if (ssh_connect(s) != SSH_OK) {
      fprintf(stderr, "connect: %s\n", ssh_get_error(s));
      return 1;
    }
    double b = cpu();
    if (ssh_userauth_publickey(s, NULL, key) != SSH_AUTH_SUCCESS) {
      fprintf(stderr, "login: %s\n", ssh_get_error(s));
      return 1;
    }
    double c = cpu();
    ssh_channel ch = ssh_channel_new(s);
    char buf[4096];
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command) != SSH_OK) {
      fprintf(stderr, "exec: %s\n", ssh_get_error(s));
      return 1;
    }
    ssh_channel_send_eof(ch);
    while (ssh_channel_read(ch, buf, sizeof buf, 0) > 0) {
    }
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    handshake += b - a;
    login += c - b;
    exec += cpu() - c;
    if (i == 0) printf("kex %s, cipher %s: ", ssh_get_kex_algo(s), ssh_get_cipher_in(s));
    ssh_free(s);
  }
  printf("CPU per session %.3f ms (key exchange %.3f, login %.3f, exec %.3f)\n", (cpu() - start) / n * 1000,
         handshake / n * 1000, login / n * 1000, exec / n * 1000);
  return 0;
}
