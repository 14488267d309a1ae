#!/usr/bin/python3
"""The Debian package, as an operator installs it: ./scripts/package builds
pgdeploy_<version>_amd64.deb, `apt-get install ./pgdeploy_<version>_amd64.deb` installs it into a
clean root, the installed /usr/bin/pgdeploy deploys and follows a failover fired by repmgr, and
`apt-get remove` / `purge` leave nothing behind.

The clean root is this machine's own, seen through overlays: the test runs itself again in a
private mount namespace (unshare -m) where /usr, /etc and /var are overlayfs mounts whose upper
layers live on a tmpfs. apt and dpkg write only there, the host is untouched, and everything
vanishes with the namespace. The rig started inside sees the same overlays, so its repmgr runs
the installed /usr/bin/pgdeploy and nothing else. (A debootstrapped chroot would need the
Debian mirror at test time and the rig's PostgreSQL, repmgr, sshd and PgBouncer inside it.)

The tests run in order (their names say it): install, use, remove.
PGDEPLOY_PACKAGE_DIR=DIR tests the package ./scripts/package DIR made instead of building one.
Otherwise the package is built once per state of the sources, in build/package-<digest>/, and a
test command run again on the same sources reuses it.
"""

import glob
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import support
from support import RigTestCase
import rig

SOURCE = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, os.path.join(SOURCE, 'tests', 'package'))
import test_docs  # noqa: E402  (the completion checks, run on the installed files)

INSTALLED = '/usr/bin/pgdeploy'
OVERLAID = ('/usr', '/etc', '/var')
IN_NAMESPACE = 'PGDEPLOY_PACKAGE_TEST_NAMESPACE'
SERVERS = (1, 2)
DOC = '/usr/share/doc/pgdeploy'
VERSION = re.search(r'^project\(pgdeploy VERSION ([\d.]+)', test_docs.read('CMakeLists.txt'), re.M).group(1)
DEB = f'pgdeploy_{VERSION}_amd64.deb'


def sh(argv, timeout=300, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f'{shlex.join(argv)}: exit {proc.returncode}\n'
                             f'--- stdout:\n{proc.stdout[-4000:]}--- stderr:\n{proc.stderr[-4000:]}')
    return proc.stdout


def apt(*args, cwd=None):
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    return sh(['apt-get', '-y', '-q', '--no-install-recommends', *args], env=env, cwd=cwd)


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def package_status():
    proc = subprocess.run(['dpkg-query', '-W', '-f', '${db:Status-Abbrev}', 'pgdeploy'],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else 'not known'


def package_of_these_sources():
    """build/package-<digest of every file scripts/package packs>: a package built there is
    reused while the sources are the same (a test command run again), and built anew otherwise."""
    files = sh(['git', '-C', SOURCE, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'])
    digest = hashlib.sha256()
    for name in sorted(f for f in files.split('\0') if f):
        path = os.path.join(SOURCE, name)
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                digest.update(name.encode() + b'\0' + hashlib.sha256(f.read()).digest())
    return os.path.join(SOURCE, 'build', 'package-' + digest.hexdigest()[:16])


def mount_overlays(base):
    """/usr, /etc, /var as overlays of themselves, upper layers on a tmpfs at base; returns
    {dir: its upper layer}. Only this namespace sees them."""
    mounts = sh(['findmnt', '-n', '-r', '-o', 'TARGET']).split()
    for d in OVERLAID:
        nested = [m for m in mounts if m.startswith(d + '/')]
        if nested:
            raise unittest.SkipTest(f'{d} has mounts below it ({nested}): an overlay would hide them')
    sh(['mount', '-t', 'tmpfs', '-o', 'mode=755,size=4g', 'pgdeploy-package-test', base])
    uppers = {}
    for d in OVERLAID:
        upper, work = (os.path.join(base, d.strip('/'), part) for part in ('upper', 'work'))
        os.makedirs(upper)
        os.makedirs(work)
        sh(['mount', '-t', 'overlay', 'overlay', '-o',
            f'lowerdir={d},upperdir={upper},workdir={work}', d])
        uppers[d] = upper
    return uppers


def unmount_overlays(base):
    # Lazily: this very process runs from the overlaid /usr.
    for d in (*OVERLAID, base):
        subprocess.run(['umount', '-l', d], capture_output=True)


def changed_paths(uppers):
    """Every file the overlays hold: what was written, changed or (as a whiteout) deleted."""
    found = set()
    for d, upper in uppers.items():
        for top, _, files in os.walk(upper):
            found.update(d + os.path.join(top, name)[len(upper):] for name in files)
    return found


class PackageTest(RigTestCase):
    rig_options = {'app_servers': len(SERVERS)}

    @classmethod
    def setUpClass(cls):
        support.require_root()
        if os.environ.get(IN_NAMESPACE) != '1':
            raise unittest.SkipTest('run this file directly: it enters its own mount namespace')
        for tool in ('dpkg-buildpackage', 'dh', 'lintian', 'apt-get'):
            if not shutil.which(tool):
                raise unittest.SkipTest(f'{tool} is missing (./scripts/install-deps installs it)')
        cls.work = tempfile.mkdtemp(prefix='pgdeploy-package-test.')
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        os.chmod(cls.work, 0o755)     # apt's _apt user reads the .deb from here
        prebuilt = os.environ.get('PGDEPLOY_PACKAGE_DIR')
        if prebuilt:     # a package ./scripts/package made before: test exactly that one
            for deb in glob.glob(os.path.join(prebuilt, 'pgdeploy_*_amd64.deb')):
                shutil.copy(deb, cls.work)
            cls.lintian = sh(['lintian', '--fail-on', 'error', *glob.glob(f'{cls.work}/*.deb')])
        else:
            built = package_of_these_sources()
            if not glob.glob(os.path.join(built, 'pgdeploy_*_amd64.deb')):
                # The unit tests already ran in this ctest; the package build need not run them again.
                env = dict(os.environ, DEB_BUILD_OPTIONS=f'nocheck parallel={os.cpu_count()}')
                lintian = sh([os.path.join(SOURCE, 'scripts', 'package'), built + '.new'], env=env,
                             timeout=900)
                with open(os.path.join(built + '.new', 'lintian.log'), 'w', encoding='utf-8') as f:
                    f.write(lintian)
                shutil.rmtree(built, ignore_errors=True)
                os.rename(built + '.new', built)
            for deb in glob.glob(os.path.join(built, 'pgdeploy_*_amd64.deb')):
                shutil.copy(deb, cls.work)
            cls.lintian = read(os.path.join(built, 'lintian.log'))
        cls.debs = glob.glob(os.path.join(cls.work, 'pgdeploy_*_amd64.deb'))
        if [os.path.basename(d) for d in cls.debs] != [DEB]:
            raise AssertionError(f'expected exactly {DEB}, found {cls.debs}')
        base = os.path.join(cls.work, 'overlay')
        os.mkdir(base)
        cls.uppers = mount_overlays(base)
        cls.addClassCleanup(unmount_overlays, base)
        if package_status() != 'not known':     # installed on this host: start from a clean root
            sh(['dpkg', '--purge', 'pgdeploy'])
        cls.before = changed_paths(cls.uppers)
        cls.install_log = apt('install', f'./{DEB}', cwd=cls.work)   # as setup step 1 says (docs/setup.md)
        os.environ['PGDEPLOY'] = INSTALLED       # the rig and repmgr use the installed binary
        super().setUpClass()

    @classmethod
    def run_installed(cls, *args):
        """The installed /usr/bin/pgdeploy itself (not a copy), as postgres on the DB host."""
        argv = ['-c', cls.rig.cluster, '-p', cls.rig.node[1].conninfo(), *args]
        proc = subprocess.run(cls.rig.dbhost.argv([INSTALLED, *argv], rig.PG_USER), cwd=cls.rig.dir,
                              env=rig.postgres_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60)
        return support.Result(proc.returncode, proc.stdout, proc.stderr, 0)

    def test_1_lintian_clean_with_computed_dependencies(self):
        self.assertNotRegex(self.lintian, r'(?m)^E: ', 'lintian errors')
        fields = sh(['dpkg-deb', '-f', self.debs[0], 'Version', 'Depends'])
        self.assertIn(f'Version: {VERSION}\n', fields)
        for lib in ('libpq5', 'libssh-4', 'libssl3', 'libc6'):   # computed by dpkg-shlibdeps
            self.assertRegex(fields, rf'Depends: .*\b{lib}\b')

    def test_2_installed_as_an_operator_needs_it(self):
        self.assertEqual(package_status(), 'ii')
        self.assertIn(f'Setting up pgdeploy ({VERSION})', self.install_log)
        self.assertEqual(sh([INSTALLED, '--version']).strip(), f'pgdeploy {VERSION}')
        for path in ('/usr/share/man/man1/pgdeploy.1.gz', f'{DOC}/copyright', f'{DOC}/changelog.gz',
                     '/usr/share/bash-completion/completions/pgdeploy',
                     f'{DOC}/examples/repmgr.conf', f'{DOC}/examples/sudoers.pgbouncer'):
            self.assertTrue(os.path.isfile(path), f'{path} is not installed')
        man = subprocess.run(['man', '--warnings', '-P', 'cat', 'pgdeploy'], capture_output=True,
                             text=True, timeout=30, env=dict(os.environ, MANWIDTH='80'))
        self.assertEqual((man.returncode, man.stderr), (0, ''), 'man pgdeploy: exit status, warnings')
        self.assertIn('EXIT STATUS', man.stdout)
        self.assertIn('Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
                      read(f'{DOC}/copyright'))
        sh(['visudo', '-c', '-f', f'{DOC}/examples/sudoers.pgbouncer'])
        # The installed README and manual link to each other as in the source tree; the licence
        # and the man page's source are left out: Debian installs them as copyright and man page.
        docs = [os.path.relpath(os.path.join(top, f), DOC) for top, _, files in os.walk(DOC)
                for f in files if f.endswith('.md')]
        self.assertIn('docs/setup.md', docs)
        broken = [b for d in docs for b in test_docs.broken_links(d, DOC)
                  if not re.search(r'\((LICENSE|docs/pgdeploy\.1)\)', b)]
        self.assertEqual(broken, [])
        # The installed unit's sandbox, measured as security review 3 measured it (8.2 EXPOSED then).
        security = sh(['systemd-analyze', 'security', '--offline=true', 'pgdeploy-watch@main.service'])
        level = re.search(r'Overall exposure level for pgdeploy-watch@main\.service: ([\d.]+)', security)
        self.assertIsNotNone(level, security)
        self.assertLess(float(level.group(1)), 4.0, security)

    def test_3_installed_completion_offers_every_option(self):
        names = {n for names in test_docs.help_options(test_docs.help_text(INSTALLED)) for n in names}
        offered = test_docs.complete(INSTALLED, '/usr/share/bash-completion/completions/pgdeploy', '-')
        self.assertEqual(offered, names)

    def test_4_installed_binary_deploys_and_follows_a_failover(self):
        first = self.run_installed()
        self.assertExit(first, 0)
        for i in SERVERS:
            self.assertReaches(i, port=5441)
        # repmgr.conf as the shipped example says, with the rig's cluster and connection added.
        example = read(f'{DOC}/examples/repmgr.conf')
        command = re.search(r"^event_notification_command = '(.*)'$", example, re.M).group(1)
        self.assertTrue(command.startswith(f'{INSTALLED} -c main '), command)
        template = command.replace('-c main', '-c {cluster} -p "host=127.0.0.1 port={port} '
                                   'user=repmgr dbname=repmgr"', 1)
        self.rig.set_event_notification(template)
        reloads = {i: self.rig.app[i].reload_count() for i in SERVERS}
        self.rig.node[1].stop('immediate')
        promote = self.rig.node[2].promote()
        self.assertIn(f'executing notification command for event "standby_promote"',
                      promote.stdout + promote.stderr)
        self.assertIn(INSTALLED, promote.stdout + promote.stderr)
        self.wait_reaches(SERVERS, port=5442, timeout=30)
        for i in SERVERS:
            self.assertGreater(self.rig.app[i].reload_count(), reloads[i])

    def test_5_remove_and_purge_leave_nothing(self):
        listed = [line.split()[-1].lstrip('.') for line in sh(['dpkg-deb', '-c', self.debs[0]]).splitlines()]
        ours = [p for p in listed if p.startswith('/usr/') and not p.endswith('/')]
        apt('remove', 'pgdeploy')
        # No conffiles: "remove" already leaves nothing but dpkg's record of the package.
        self.assertEqual([p for p in ours if os.path.lexists(p)], [], 'files left after remove')
        self.assertIn(package_status(), ('rc', 'not known', 'un'))
        sh(['dpkg', '--purge', 'pgdeploy'])     # apt-get purge refuses a package it forgot
        self.assertIn(package_status(), ('not known', 'un'))
        # What apt and dpkg keep about any package they handled, and the rig's own files.
        bookkeeping = ('/var/lib/dpkg/', '/var/lib/apt/', '/var/cache/', '/var/log/',
                       '/var/lib/pgdeploy-rig/')
        left = sorted(p for p in changed_paths(self.uppers) - self.before
                      if not p.startswith(bookkeeping))
        self.assertEqual(left, [], 'files written, changed or deleted outside /var bookkeeping')
        self.assertFalse(os.path.lexists(DOC), f'{DOC} left behind')


if __name__ == '__main__':
    if os.geteuid() == 0 and os.environ.get(IN_NAMESPACE) != '1':
        os.environ[IN_NAMESPACE] = '1'
        os.execvp('unshare', ['unshare', '--mount', '--propagation', 'private', '--',
                              sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
    support.main()
