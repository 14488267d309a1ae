// Text from outside (the database, an app server, the command line) as one line of our output:
// the one escaping function of every report, check, log line and sd_notify STATUS.
#pragma once

#include <string>
#include <string_view>

namespace pgdeploy {

enum class Escape {
  text,        // reports, logs, sd_notify
  monitoring,  // a line of `pgdeploy check`: `|` too, which Nagios reads as perfdata on any line
};

// `s` with every byte that could end the line, start a command or drive a terminal written
// `\xHH` (two lower-case hex digits): C0 controls (line breaks included), DEL, the C1 controls
// (U+0080..U+009F, written as their two UTF-8 bytes) and every byte that is not part of valid
// UTF-8; with Escape::monitoring, `|` as `\x7c` too. Valid UTF-8 text is kept as it is.
//
// One `\xHH` form for every byte rather than `\n`, `\t`...: one rule, and the byte's value can be
// read back. A backslash is left alone, so escaping twice changes nothing (text from an app server
// is escaped on arrival, pgbouncer/push, and again where it is printed; a diff's own
// "\ No newline" line stays). The price: a name that holds the four characters `\x0a` reads like
// one that held a line break; it cannot make one.
//
// `max`: at most this many bytes of the escaped text, never cutting an escape or a character,
// then "..." when something was left out.
std::string escape_text(std::string_view s, Escape how = Escape::text, size_t max = std::string::npos);

// Each line of `text` escaped on its own; its line breaks kept (a diff, whose lines are ours).
std::string escape_lines(std::string_view text, Escape how = Escape::text);

}  // namespace pgdeploy
