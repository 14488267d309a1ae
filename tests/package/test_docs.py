#!/usr/bin/python3
"""--help is the one source for options and exit codes: the man page (docs/pgdeploy.1), the exit
codes in src/report/exit_codes.h and the bash completion must say the same. Derived from
`pgdeploy --help`, so an added, renamed or removed option fails here until every document
follows. The Markdown documents hold no table of options or exit codes (they point at --help and
the man page), and every relative link between them resolves. No rig, no root: $PGDEPLOY is the
binary (the Markdown checks need none)."""

import os
import re
import shutil
import subprocess
import unittest

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
COMPLETION_LIB = '/usr/share/bash-completion/bash_completion'
OPTION = re.compile(r'(?<![\w-])(--?[A-Za-z][\w-]*)')


def read(relpath, root=SOURCE):
    with open(os.path.join(root, relpath), encoding='utf-8') as f:
        return f.read()


def agent():
    path = os.environ.get('PGDEPLOY')
    if not path or not os.access(path, os.X_OK):
        raise unittest.SkipTest(f'PGDEPLOY={path!r} is not an executable (build pgdeploy first)')
    return os.path.abspath(path)


def help_text(binary, *subcommand):
    proc = subprocess.run([binary, *subcommand, '--help'], capture_output=True, text=True, timeout=10,
                          env={'LC_ALL': 'C', 'PATH': '/usr/bin:/bin'})
    if proc.returncode != 0:
        raise AssertionError(f'pgdeploy --help exited {proc.returncode}: {proc.stderr}')
    return proc.stdout


def help_options(text):
    """Each option of --help as the tuple of its names: ('-c', '--cluster'), ('--json',)."""
    return [tuple(m.group(1).split(',')) for m in re.finditer(r'^  (-\S+)', text, re.M)]


def help_exit_codes(text):
    footer = text.split('Exit codes:', 1)[1]
    return {int(m.group(1)) for m in re.finditer(r'^  (\d+)  ', footer, re.M)}


def section(text, start, end):
    """The text from the line matching `start` to the next line matching `end`."""
    m = re.search(start, text, re.M)
    if not m:
        raise AssertionError(f'no section {start!r}')
    rest = text[m.end():]
    stop = re.search(end, rest, re.M)
    return rest[:stop.start()] if stop else rest


def man_groups(man):
    """Option names per .TP item of the man page's OPTIONS section."""
    body = section(man, r'^\.SH OPTIONS', r'^\.SH ')
    plain = re.sub(r'\\f[BIRP]', '', body).replace('\\-', '-')
    lines = plain.splitlines()
    return [set(OPTION.findall(lines[i + 1])) for i, line in enumerate(lines[:-1])
            if line.startswith('.TP')]


def man_exit_codes(man):
    body = section(man, r'^\.SH EXIT STATUS', r'^\.SH ')
    return {int(c) for c in re.findall(r'^\.TP\n\.B (\d+)$', body, re.M)}


def markdown_files():
    """Every Markdown file of the source tree, as paths relative to it (not build trees, not
    debian/'s staging directories)."""
    found = []
    for top, dirs, files in os.walk(SOURCE):
        dirs[:] = sorted(d for d in dirs if not (d.startswith(('.', 'build', 'obj-')) or d == 'debian'
                                                 or os.path.exists(os.path.join(top, d, 'CMakeCache.txt'))))
        found += [os.path.relpath(os.path.join(top, f), SOURCE) for f in sorted(files) if f.endswith('.md')]
    return found


def without_code(text):
    """Markdown without its fenced code blocks and inline code spans: what a link can sit in."""
    text = re.sub(r'^\s*```.*?^\s*```', '', text, flags=re.S | re.M)
    return re.sub(r'`[^`\n]*`', '', text)


def heading_anchors(text):
    """The #anchors GitHub gives the headings of a Markdown text (repeats get -1, -2, ...)."""
    text = re.sub(r'^\s*```.*?^\s*```', '', text, flags=re.S | re.M)
    seen, anchors = {}, set()
    for m in re.finditer(r'^#{1,6}\s+(.*?)\s*#*\s*$', text, re.M):
        slug = re.sub(r'[^\w\- ]', '', m.group(1).strip().lower()).replace(' ', '-')
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f'{slug}-{n}')
    return anchors


def broken_links(relpath, root=SOURCE):
    """Relative links of one Markdown file under root (the source tree, or the documents a
    package installed) whose file or #heading does not exist."""
    text = without_code(read(relpath, root))
    broken = []
    for m in re.finditer(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)\)', text):
        target = m.group(2)
        if re.match(r'[a-z][a-z0-9+.-]*:', target):
            continue   # https:, mailto:
        path, _, anchor = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(relpath), path)) if path else relpath
        if not os.path.exists(os.path.join(root, dest)):
            broken.append(f'{relpath}: ({target}): no file {dest}')
        elif anchor and dest.endswith('.md') and anchor not in heading_anchors(read(dest, root)):
            broken.append(f'{relpath}: ({target}): {dest} has no heading #{anchor}')
    return broken


def table_first_cells(text):
    """(header's first cell, first cells of the rows) of every Markdown table in `text`."""
    tables, rows = [], []
    for line in without_code(text).splitlines() + ['']:
        if line.startswith('|'):
            rows.append(line.split('|')[1].strip())
        elif rows:
            tables.append((rows[0], rows[2:]))   # header, |---| line, rows
            rows = []
    return tables


def man_groups_in(man, heading):
    """Option names per .TP item of the man page section `heading`."""
    body = section(man, rf'^\.SH {heading}', r'^\.SH ')
    plain = re.sub(r'\\f[BIRP]', '', body).replace('\\-', '-')
    lines = plain.splitlines()
    return [set(OPTION.findall(lines[i + 1])) for i, line in enumerate(lines[:-1])
            if line.startswith('.TP')]


def complete(binary, completion, *words):
    """COMPREPLY of the bash completion file `completion` for the command line `binary WORDS`,
    the cursor at its end, as bash with bash-completion's library computes it."""
    script = f'''
        source {COMPLETION_LIB}
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
        COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
        _pgdeploy "$1" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    '''
    proc = subprocess.run(['bash', '-c', script, 'bash', completion, binary, *words],
                          capture_output=True, text=True, timeout=20, cwd=SOURCE)
    if proc.returncode != 0 or proc.stderr:
        raise AssertionError(f'bash completion of {words}: exit {proc.returncode}\n{proc.stderr}')
    return set(proc.stdout.split())


class DocsAgreeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = agent()
        cls.help = help_text(cls.binary)
        cls.options = help_options(cls.help)
        cls.names = {name for names in cls.options for name in names}
        if len(cls.options) < 5:
            raise AssertionError(f'--help lists only {cls.options}: has its format changed?')

    def assertGroupsAgree(self, groups, where):
        """Every --help option is documented with all its names together; nothing else is."""
        documented = set().union(*groups)
        self.assertEqual(sorted(self.names - documented), [], f'options of --help missing in {where}')
        self.assertEqual(sorted(documented - self.names), [], f'options in {where} that --help lacks')
        for names in self.options:
            self.assertTrue(any(set(names) <= g for g in groups),
                            f'{where}: {", ".join(names)} are not named in one entry')

    def test_man_page_options(self):
        self.assertGroupsAgree(man_groups(read('docs/pgdeploy.1')), 'docs/pgdeploy.1 OPTIONS')

    def test_exit_codes(self):
        codes = help_exit_codes(self.help)
        self.assertGreaterEqual(len(codes), 2, self.help)
        source = {int(c) for c in re.findall(r'\bkExit\w+ = (\d+)', read('src/report/exit_codes.h'))}
        self.assertEqual(codes, source, '--help vs src/report/exit_codes.h')
        self.assertEqual(man_exit_codes(read('docs/pgdeploy.1')), codes, 'man page EXIT STATUS vs --help')

    def test_man_page_version(self):
        version = re.search(r'^project\(pgdeploy VERSION ([\d.]+)', read('CMakeLists.txt'), re.M).group(1)
        self.assertRegex(read('docs/pgdeploy.1').splitlines()[0], rf'"pgdeploy {re.escape(version)}"')


class SubcommandDocsTest(unittest.TestCase):
    """The options of `pgdeploy check --help` and `pgdeploy watch --help` (beyond -h, and those
    every run takes) are in the man page's CHECK / WATCH OPTIONS; their exit codes in the man page
    and in --help agree."""

    SUBCOMMANDS = {'check': 'CHECK OPTIONS', 'watch': 'WATCH OPTIONS'}

    @classmethod
    def setUpClass(cls):
        cls.binary = agent()
        cls.main = {n for names in help_options(help_text(cls.binary)) for n in names}

    def own_options(self, sub):
        options = [names for names in help_options(help_text(self.binary, sub)) if '--help' not in names]
        self.assertTrue(options, f'pgdeploy {sub} --help lists no options of its own')
        return options

    def assertDocumented(self, options, groups, where):
        documented = set().union(*groups)
        names = {n for o in options for n in o}
        self.assertEqual(sorted(names - documented), [], f'missing in {where}')
        self.assertEqual(sorted(documented - names - self.main), [], f'in {where}, not in --help')

    def test_options(self):
        man = read('docs/pgdeploy.1')
        for sub, man_heading in self.SUBCOMMANDS.items():
            with self.subTest(sub=sub):
                options = self.own_options(sub)
                self.assertDocumented(options, man_groups_in(man, man_heading), f'man {man_heading}')

    def test_watch_exit_codes(self):
        codes = help_exit_codes(help_text(self.binary, 'watch'))
        body = section(read('docs/pgdeploy.1'), r'^\.SS pgdeploy watch', r'^\.S[SH] ')
        self.assertEqual({int(c) for c in re.findall(r'^\.TP\n\.B (\d+)$', body, re.M)}, codes)
        self.assertEqual(codes, {0, 1, 2})

    def test_check_exit_codes(self):
        footer = help_text(self.binary, 'check').split('Exit codes', 1)[1]
        codes = {int(m.group(1)) for m in re.finditer(r'^  (\d+)  ', footer, re.M)}
        body = section(read('docs/pgdeploy.1'), r'^\.SS pgdeploy check', r'^\.S[SH] ')
        self.assertEqual({int(c) for c in re.findall(r'^\.TP\n\.B (\d+)$', body, re.M)}, codes)
        self.assertEqual(codes, {0, 1, 2, 3})
        self.assertIn('kCheckUsage = 3', read('src/report/exit_codes.h'))


class MarkdownTest(unittest.TestCase):
    """The Markdown documents: every relative link and #heading resolves, and none repeats the
    options or exit codes in a table (their one home is --help, and the man page beside it)."""

    def test_markdown_files_found(self):
        files = markdown_files()
        for expected in ('README.md', 'ARCHITECTURE.md', 'docs/setup.md', 'bench/README.md'):
            self.assertIn(expected, files)

    def test_relative_links_resolve(self):
        broken = [b for f in markdown_files() for b in broken_links(f)]
        self.assertEqual(broken, [], '\n'.join(broken))

    def test_no_table_of_options_or_exit_codes(self):
        binary = agent()
        names = {n for sub in ((), ('check',), ('watch',))
                 for names in help_options(help_text(binary, *sub)) for n in names}
        for relpath in ['README.md'] + [f for f in markdown_files() if f.startswith('docs/')]:
            for header, cells in table_first_cells(read(relpath)):
                with self.subTest(file=relpath, table=header):
                    self.assertNotIn(header.lower(), ('code', 'exit', 'option'),
                                     f'{relpath}: a table of exit codes or options; they live in --help')
                    self.assertEqual([c for c in cells if set(OPTION.findall(c)) & names], [],
                                     f'{relpath}: a table of pgdeploy options; they live in --help')


class SystemdUnitTest(unittest.TestCase):
    """systemd/pgdeploy-watch@.service passes `systemd-analyze verify`, its ExecStart pointed at
    the binary under test (the installed path does not exist here)."""

    def test_verify(self):
        binary = agent()
        if not shutil.which('systemd-analyze'):
            raise unittest.SkipTest('needs systemd-analyze (package systemd)')
        unit = read('systemd/pgdeploy-watch@.service')
        self.assertIn('ExecStart=/usr/bin/pgdeploy watch -c %i', unit)
        self.assertIn('Type=notify', unit)
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'pgdeploy-watch@main.service')
            with open(path, 'w') as f:
                f.write(unit.replace('/usr/bin/pgdeploy', binary))
            proc = subprocess.run(['systemd-analyze', 'verify', '--man=no', path],
                                  capture_output=True, text=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stderr.strip()), (0, ''), proc.stdout)

    def test_sandboxed_below_exposure_4_with_the_lock_directory_shared(self):
        if not shutil.which('systemd-analyze'):
            raise unittest.SkipTest('needs systemd-analyze (package systemd)')
        unit = read('systemd/pgdeploy-watch@.service')
        import tempfile
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, 'etc/systemd/system'))
            with open(os.path.join(root, 'etc/systemd/system/pgdeploy-watch@.service'), 'w') as f:
                f.write(unit)
            proc = subprocess.run(['systemd-analyze', 'security', '--offline=true', f'--root={root}',
                                   'pgdeploy-watch@main.service'], capture_output=True, text=True, timeout=60)
        level = re.search(r'Overall exposure level for pgdeploy-watch@main\.service: ([\d.]+)', proc.stdout)
        self.assertIsNotNone(level, proc.stdout + proc.stderr)
        self.assertLess(float(level.group(1)), 4.0, proc.stdout)
        # postgres' home holds the default --lock-file, the hook's socket beside it, .last and
        # .watch: written by the watcher, and the same directory the hook outside the unit sees.
        self.assertRegex(unit, r'(?m)^ProtectSystem=strict$')
        self.assertRegex(unit, r'(?m)^ReadWritePaths=/var/lib/postgresql$')


class CompletionTest(unittest.TestCase):
    """docs/pgdeploy.bash-completion, run by bash with bash-completion's library."""

    @classmethod
    def setUpClass(cls):
        cls.binary = agent()
        if not (shutil.which('bash') and os.path.exists(COMPLETION_LIB)):
            raise unittest.SkipTest(f'needs bash and {COMPLETION_LIB} (package bash-completion)')
        cls.names = {n for names in help_options(help_text(cls.binary)) for n in names}

    def complete(self, *words):
        return complete(self.binary, os.path.join(SOURCE, 'docs', 'pgdeploy.bash-completion'), *words)

    def test_every_option(self):
        self.assertEqual(self.complete('-'), self.names)

    def test_a_prefix(self):
        self.assertEqual(self.complete('--dry-run', '--j'), {'--json'})

    def test_fixed_values_from_help(self):
        self.assertEqual(self.complete('--sessions', ''), {'auto', 'cut', 'drain'})
        self.assertEqual(self.complete('--sessions=d'), {'drain'})

    def test_a_value_is_not_offered_options(self):
        self.assertEqual(self.complete('-c', ''), set())

    def test_subcommands_and_their_options(self):
        self.assertEqual(self.complete('w'), {'watch'})
        self.assertEqual(self.complete('watch', '--int'), {'--interval'})
        self.assertEqual(self.complete('check', '--crit'), {'--critical-unreachable'})
        self.assertEqual(self.complete('--int'), set(), 'a deploy has no --interval')

    def test_local_files(self):
        self.assertEqual(self.complete('--known-hosts', 'docs/examples/sud'),
                         {'docs/examples/sudoers.pgbouncer'})


if __name__ == '__main__':
    unittest.main(verbosity=2)
