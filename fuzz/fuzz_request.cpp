// The request framing (src/README.md, "Request"): any bytes given to the reference reader never
// crash it, and what it accepts is exactly what the writer writes again; any request the agent's
// rules accept, made of arbitrary field values, reads back field for field.
//
// Input: first byte even = the bytes are a request as it arrives on the app server; odd = the
// rest is split into fields (fuzz.h) that fill a request's strings.
#include <string>

#include "fuzz.h"
#include "pgbouncer/push.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgdeploy;
  using pgdeploy::fuzz::check;
  if (size == 0) return 0;
  std::string err;
  PushRequest back;
  if (data[0] % 2 == 0) {
    const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    if (parse_push_request(bytes, &back, &err)) {
      check(check_request(back).empty(), "what the reader accepts passes the rules", bytes);
      PushRequest again;
      std::string written = push_payload(back);
      check(parse_push_request(written, &again, &err), "what the writer writes reads back", bytes);
      check(push_payload(again) == written, "a request reads back exactly", bytes);
    } else {
      check(!err.empty(), "a refused request says why", bytes);
    }
    return 0;
  }
  auto f = fuzz::fields_of(data + 1, size - 1, 9);
  PushRequest r;
  r.lock_path = "/etc/pgbouncer/databases/.main.lock";
  r.reload_command = f[0];
  r.target_host = f[1].empty() ? "10.0.0.1" : f[1];
  r.target_port = 5432;
  r.console = !f[2].empty();
  if (!f[2].empty()) r.console_env = {f[2]};
  r.socket_path = f[3];
  r.listed_databases = {f[4].empty() ? "appdb" : f[4]};
  r.auto_databases = {f[5].empty() ? "my db" : f[5]};
  r.files = {{f[6].empty() ? "/etc/pgbouncer/userlist.txt" : f[6], f[7], "", true, false},
             {"~/.pgpass", f[8], "", false, false}};
  if (!check_request(r).empty()) return 0;
  std::string written = push_payload(r);
  check(parse_push_request(written, &back, &err), "every request the rules accept reads back", written);
  check(push_payload(back) == written, "field for field", written);
  check(back.files.size() == 2 && back.files[0].content == f[7] && back.files[1].content == f[8] &&
            back.reload_command == r.reload_command && back.console_env == r.console_env,
        "contents arrive unchanged", written);
  // A file whose content the resident program holds travels as its header line alone.
  r.files[0].content = "# pgdeploy digest=d\n" + f[7];
  r.files[0].digest = "d";
  r.files[0].head_only = true;
  written = push_payload(r);
  check(parse_push_request(written, &back, &err), "a header line alone reads back", written);
  check(back.files[0].head_only && back.files[0].content == "# pgdeploy digest=d" &&
            back.files[1].content == f[8] && push_payload(back) == written,
        "the header line, and nothing of the body, arrives", written);
  return 0;
}
