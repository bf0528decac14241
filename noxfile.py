# Copyright: zenlayer.cloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test sessions of zenlayer.cloud: `nox -l` lists them, `nox -e NAME` runs one (see tests/README.md).

* From antsibull-nox (configured in antsibull-nox.toml): lint (codeqa: flake8, yamllint, antsibull-nox-config),
  ansible-lint, docs-check, extra-checks (no-unwanted-files, action-groups, no-trailing-whitespace),
  build-import-check (build + galaxy-importer).
* Our own, per ansible-core version CORE (2.16 and 2.19 on Python 3.11, 2.21 on Python 3.12 when pyenv has one):
  sanity-CORE (ansible-test sanity), units-CORE (ansible-test units), integration-CORE (ansible-test integration
  on the targets, then the pytest suites of tests/integration), ansible-doc-CORE (build, install, ansible-doc).
* Our own, once: changelog, release (scripts/check_release.sh), reliability (scripts/reliability.py, rewrites
  docs/reliability.md), ansible-test-CORE (any ansible-test command: `nox -e ansible-test-2.19 -- integration
  zenlayer_image_lifecycle --venv`).

Test results (junit XML) go to tests/output/ci/; tests/summary.py counts them (make test).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nox

try:
    import antsibull_nox
    from antsibull_nox.sessions import prepare_collections
except ImportError:
    print("You need to install antsibull-nox in the same Python environment as nox (make bootstrap does).")
    sys.exit(1)

antsibull_nox.load_antsibull_nox_toml()

nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False
# uv makes the sessions' venvs and installs into them (make bootstrap installs it beside nox): 21 venvs cost make test
# about 140 CPU-s with pip. Compiled at install: these machines set PYTHONDONTWRITEBYTECODE, so a module left
# uncompiled would be compiled again by every interpreter that imports it.
nox.options.default_venv_backend = "uv|virtualenv"
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")

REPO = Path(__file__).resolve().parent
RESULTS = REPO / "tests" / "output" / "ci"
NCPU = os.cpu_count() or 1
# The tests wait on the emulator's clock as much as they compute: two workers per CPU overlap the waits without
# crowding out the other sessions make test runs at the same time (JOBS in the Makefile). The unit tests wait far
# more than they compute (about 10 % CPU per test): make check, which runs beside the lint sessions only, asks for
# more workers with ZENLAYER_UNIT_WORKERS.
UNIT_WORKERS = int(os.environ.get("ZENLAYER_UNIT_WORKERS") or 2 * NCPU)
# make check (ZENLAYER_UNIT_GROUPS=together) runs ansible-test's modules group beside its other two (run_units): the
# modules group alone leaves a quarter of the CPUs idle while its longest tests wait on the emulator's clock. make test
# keeps them one after another: beside its other sessions the load went to 17-19 and scaled-clock tests missed their
# deadlines.
UNIT_GROUPS_TOGETHER = os.environ.get("ZENLAYER_UNIT_GROUPS") == "together"
INTEGRATION_WORKERS = 2 * NCPU
# ansible-core version -> the Python it is tested on
CORES = {"2.16": "3.11", "2.19": "3.11", "2.21": "3.12"}
# The ansible-core that runs every test. The others run the tests of the boundary with Ansible: the pytest tests
# marked `boundary` and the integration targets whose aliases hold `boundary` (tests/README.md); everything else tests
# our own logic. ZENLAYER_TESTS=all (make test-all) runs every test on every version, as before a release.
PRIMARY_CORE = "2.19"
TEST_REQUIREMENTS = ["-r", "tests/requirements.txt"]
QUIET_ENV = {"NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0",
             "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}


def find_python(version: str) -> str | None:
    """A Python interpreter of this minor version: pyenv's (newest patch release first), else pythonX.Y on PATH."""
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    if shutil.which("pyenv"):
        roots.append(subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    check=False, text=True).stdout.strip())
    candidates = []
    for root in filter(None, roots):
        found = glob.glob(os.path.join(root, "versions", version + ".*", "bin", "python" + version))
        candidates += sorted(found, reverse=True, key=lambda p: [
            int(x) for x in p.split("/versions/")[1].split("/")[0].split(".") if x.isdigit()])
    candidates += [shutil.which("python" + version) or "", sys.executable]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False, text=True)
            if probe.stdout.strip() == version:
                return candidate
    return None


PYTHONS = {core: find_python(python) for core, python in CORES.items()}


def skip_without_python(session: nox.Session, core: str) -> None:
    if PYTHONS[core] is None:
        session.skip("no Python %s interpreter (looked in $(pyenv root)/versions/%s.* and on PATH): ansible-core %s "
                     "is not tested here" % (CORES[core], CORES[core], core))


def install_core(session: nox.Session, core: str, *extra: str) -> None:
    session.install("ansible-core~=%s.0" % core, *extra)


def stage(session: nox.Session) -> Path:
    """The collection copied to .../ansible_collections/zenlayer/cloud (ansible-test wants a real tree there)."""
    prepared = prepare_collections(session, install_in_site_packages=False, install_out_of_tree=True)
    if prepared is None:
        session.error("could not stage the collection")
    return Path(prepared.current_path)


def ansible_test_env(session: nox.Session) -> dict[str, str]:
    """The environment for ansible-test: a HOME of its own that holds the get-pip stand-in.

    ansible-test bootstraps pip in the venvs it makes (sanity tests, --venv) with a script it downloads from
    ci-files.testing.ansible.com, which these machines cannot reach. It first looks for a cached copy at
    ~/.ansible/test/cache/get_pip_<pip version with _>.py, so ansible-test runs with HOME=.nox/ansible-test-home/SESSION
    (inside the checkout; its venvs are kept there too, so a second run is fast; one per session, as make test runs
    sessions at the same time) where that file is a stand-in: nox's uv (or, in a venv made with pip, the session's own
    pip) installs the pip asked for into the new venv (--python), in a child process that keeps the machine's
    certificate and, with uv, its cache. Only if that fails, it runs ensurepip first, then pip install. (ensurepip,
    then a second install of pip, cost 8 CPU-s for each of the nine venvs a sanity session makes; pip --python, 3;
    uv, 1.)
    """
    home = REPO / ".nox" / "ansible-test-home" / session.name
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    pip_version = session.run("python", "-c", "import types; from ansible_test._internal.python_requirements import "
                              "get_venv_packages as g; print(g(types.SimpleNamespace(version='3'))['pip'])",
                              silent=True).strip().splitlines()[-1]
    # ansible-test runs the stand-in with HOME, PATH and LC_ALL only: the rest uv needs is written into it
    carried = {name: os.environ[name] for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(name)}
    if session.venv_backend == "uv":
        uv = shutil.which(nox.virtualenv.UV) or nox.virtualenv.UV
        uv_cache = subprocess.run([uv, "cache", "dir"], stdout=subprocess.PIPE, check=True, text=True).stdout.strip()
        installer = "[%r, 'pip', 'install', '--quiet', '--cache-dir', %r, '--python', sys.executable]" % (uv, uv_cache)
    else:
        installer = "[%r, '-m', 'pip', '--python', sys.executable, 'install']" % os.path.join(session.bin, "python")
    (cache / ("get_pip_%s.py" % pip_version.replace(".", "_"))).write_text(
        "# get-pip stand-in written by noxfile.py (ansible_test_env): installs ARGS into this Python's venv with the\n"
        "# session's installer; if that fails, ensurepip, then pip install ARGS\n"
        "import os\nimport subprocess\nimport sys\n\n"
        "os.environ.update(%r)\n"
        "args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel', '--disable-pip-version-check')]\n"
        "if subprocess.call(%s + args) != 0:\n"
        "    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])\n"
        "    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)\n" % (carried, installer),
        encoding="utf-8")
    return dict(QUIET_ENV, HOME=str(home))


CODE_CACHE_MODULE = "_zenlayer_ansiballz_code_cache"


def install_ansiballz_code_cache(session: nox.Session) -> Path:
    """tests/integration/ansiballz_code_cache.py in the session's venv, installed in each of its interpreters by a .pth
    line: the modules' AnsiballZ payloads are compiled once, not on each module run. Returns the cache directory."""
    site = Path(session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                            silent=True).strip().splitlines()[-1])
    cache = Path(session.virtualenv.location) / "ansiballz-code-cache"
    shutil.copy(REPO / "tests" / "integration" / "ansiballz_code_cache.py", site / (CODE_CACHE_MODULE + ".py"))
    (site / (CODE_CACHE_MODULE + ".pth")).write_text(
        "import %s; %s.install(%r)\n" % (CODE_CACHE_MODULE, CODE_CACHE_MODULE, str(cache)), encoding="utf-8")
    return cache


def junit_path(session: nox.Session, part: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / ("junit-%s%s.xml" % (session.name, part))


def copy_ansible_test_output(collection: Path, session: nox.Session) -> None:
    """Keep what ansible-test wrote (tests/output in the staged tree) under tests/output/<session>/."""
    source = collection / "tests" / "output"
    if source.is_dir():
        target = REPO / "tests" / "output" / session.name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".tmp"), symlinks=True)


def integration_junit(collection: Path, junit: Path, targets_run: list[str]) -> None:
    """One junit test case per integration target: passed when ansible-test's results (tests/output/data) list it."""
    passed: set[str] = set()
    for path in (collection / "tests" / "output" / "data").glob("integration-*.json"):
        passed.update(json.loads(path.read_text(encoding="utf-8")).get("targets", {}))
    suite = ET.Element("testsuite", name="ansible-test integration", tests=str(len(targets_run)),
                       failures=str(len([name for name in targets_run if name not in passed])))
    for name in targets_run:
        case = ET.SubElement(suite, "testcase", classname="integration", name=name)
        if name not in passed:
            ET.SubElement(case, "failure", message="target %s failed or did not run (see the session log)" % name)
    ET.ElementTree(suite).write(junit, encoding="utf-8", xml_declaration=True)


def integration_targets(boundary_only: bool = False) -> list[str]:
    """The targets ansible-test runs: every directory under tests/integration/targets/ but the setup_* ones; with
    boundary_only, those whose aliases file has the line `boundary`."""
    base = REPO / "tests" / "integration" / "targets"
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(("setup_", "prepare_")))
    if boundary_only:
        names = [name for name in names
                 if "boundary" in (base / name / "aliases").read_text(encoding="utf-8").splitlines()]
    return names


def runs_everything(core: str) -> bool:
    """Whether this ansible-core's sessions run every test (PRIMARY_CORE, or ZENLAYER_TESTS=all), or the boundary."""
    return core == PRIMARY_CORE or os.environ.get("ZENLAYER_TESTS") == "all"


def tests_env(core: str) -> dict[str, str]:
    """What the pytest suites read: ZENLAYER_TESTS (all | boundary, see conftest.py) and CI (set: a missing test
    dependency fails instead of skipping)."""
    env = {"ZENLAYER_TESTS": "all" if runs_everything(core) else "boundary"}
    if os.environ.get("CI"):
        env["CI"] = os.environ["CI"]
    return env


def check_nothing_left(session: nox.Session, collection: Path) -> None:
    """Fail the session when an emulator started from the staged collection still runs (ansible-test passes pytest and
    the targets so few environment variables that the pytest check, tests/emulator/leftovers.py, cannot see them)."""
    marker = str(collection).encode()
    left = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in command and b"tests/emulator/server.py" in command:
            left.append(int(entry.name))
            try:
                os.kill(int(entry.name), 9)
            except OSError:
                pass
    if left:
        session.error("emulator processes were left running (now killed): %s" % left)


class BackgroundRun:
    """A command of the session's venv run in the background (its own process group), output to a log file that
    finish() prints; stop() kills it with all it started if it still runs."""

    def __init__(self, session: nox.Session, args: list[str], env: dict[str, str], label: str,
                 cwd: Path = REPO) -> None:
        self.session = session
        self.log = RESULTS / ("%s-%s.log" % (session.name, label))
        RESULTS.mkdir(parents=True, exist_ok=True)
        bin_dir = session.bin
        command = [os.path.join(bin_dir, args[0])] + args[1:]
        full_env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
                        VIRTUAL_ENV=session.virtualenv.location, **env)
        session.log("in the background (output at the end, and in %s): %s" % (self.log, " ".join(args)))
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(command, cwd=str(cwd), env=full_env, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    def finish(self) -> int:
        """Wait for it, print its output, return its exit status."""
        self.session.log("waiting for: %s" % " ".join(self.process.args[:3]))
        code = self.process.wait()
        sys.stdout.write(self.log.read_text(encoding="utf-8", errors="replace"))
        sys.stdout.flush()
        self.session.log("exit status %d: %s" % (code, " ".join(self.process.args[:3])))
        return code

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, 9)
        except OSError:
            pass
        self.process.wait()


UNIT_MODULES = "tests/unit/plugins/modules"


def unit_tests(collection: Path, modules: bool) -> list[str]:
    """The unit test files in UNIT_MODULES (ansible-test's modules group), or the others (its module_utils and
    controller groups)."""
    return sorted(str(path.relative_to(collection)) for path in (collection / "tests" / "unit").rglob("test_*.py")
                  if ((collection / UNIT_MODULES) in path.parents) == modules)


def run_units(session: nox.Session, collection: Path, pyver: str, env: dict[str, str]) -> None:
    """ansible-test units: its three groups one after another, or with UNIT_GROUPS_TOGETHER its modules group in the
    background beside the other two. Each writes its own junit XML."""
    command = ["ansible-test", "units", "--color", "no", "--local", "--python", pyver, "--num-workers"]
    if not UNIT_GROUPS_TOGETHER or session.posargs:
        session.run(*command, str(UNIT_WORKERS), *session.posargs, env=env)
        return
    modules = BackgroundRun(session, command + [str(UNIT_WORKERS)] + unit_tests(collection, True), env, "modules",
                            cwd=collection)
    failed = []
    try:
        try:
            # the other two groups have a third of the modules group's test time
            session.run(*command, str(max(2, UNIT_WORKERS // 2)), *unit_tests(collection, False), env=env)
        except nox.command.CommandFailed:
            failed.append("the module_utils and controller groups")
        if modules.finish() != 0:
            failed.append("the modules group")
    finally:
        modules.stop()
    if failed:
        session.error("ansible-test units failed: " + " and ".join(failed))


def pytest_args(session: nox.Session, paths: list[str], workers: int, part: str = "") -> list[str]:
    args = ["python", "-m", "pytest", *paths, "-p", "no:cacheprovider", "-o", "console_output_style=classic",
            "-rfE", "--color=no", "--durations=25", "--junitxml=%s" % junit_path(session, part)]
    if workers > 1:
        args += ["-n", str(workers)]
    return args + list(session.posargs)


# ---------------------------------------------------------------------------------------------- per ansible-core


def add_core_sessions(core: str, python: str | None) -> None:
    pyver = CORES[core]
    venv_python = python or False  # no interpreter: the session only reports that it skips

    @nox.session(name="sanity-%s" % core, python=venv_python, tags=["sanity", "core-" + core])
    def sanity(session: nox.Session) -> None:
        """ansible-test sanity (every test, no ignore file) on this ansible-core."""
        skip_without_python(session, core)
        install_core(session, core, *TEST_REQUIREMENTS)
        env = ansible_test_env(session)
        collection = stage(session)
        with session.chdir(collection):
            try:
                session.run("ansible-test", "sanity", "--color", "no", "--python", pyver, *session.posargs, env=env)
            finally:
                copy_ansible_test_output(collection, session)

    @nox.session(name="units-%s" % core, python=venv_python, tags=["units", "core-" + core])
    def units(session: nox.Session) -> None:
        """ansible-test units on tests/unit (the client, the base, the modules, the emulator): every test on
        PRIMARY_CORE, the ones marked boundary on the others (ZENLAYER_TESTS=all: every test)."""
        skip_without_python(session, core)
        install_core(session, core, *TEST_REQUIREMENTS)
        env = ansible_test_env(session)
        collection = stage(session)
        # ansible-test passes pytest few environment variables: tests/unit/conftest.py reads these from this file
        (collection / "tests" / ".session-env.json").write_text(json.dumps(tests_env(core)), encoding="utf-8")
        with session.chdir(collection):
            try:
                run_units(session, collection, pyver, env)
            finally:
                for xml in (collection / "tests" / "output" / "junit").glob("*units.xml"):
                    shutil.copy(xml, junit_path(session, "-" + xml.stem))
                copy_ansible_test_output(collection, session)
                check_nothing_left(session, collection)

    @nox.session(name="integration-%s" % core, python=venv_python, tags=["integration", "core-" + core])
    def integration(session: nox.Session) -> None:
        """ansible-test integration on the targets (each against its own emulator) and, at the same time, pytest
        tests/integration (faults, bad input, secrets, TLS, concurrency, the AWX job through ansible-runner): every
        target and test on PRIMARY_CORE, the boundary ones on the others (ZENLAYER_TESTS=all: every one)."""
        skip_without_python(session, core)
        install_core(session, core, *TEST_REQUIREMENTS)
        code_cache = install_ansiballz_code_cache(session)
        env = ansible_test_env(session)
        collection = stage(session)
        targets = list(session.posargs) or integration_targets(boundary_only=not runs_everything(core))
        # the pytest suites wait on emulators and playbooks, the targets too: both at once (its output comes after)
        pytest_run = None if session.posargs else BackgroundRun(
            session, pytest_args(session, ["tests/integration"], INTEGRATION_WORKERS), dict(QUIET_ENV, **tests_env(core)),
            "pytest")
        failed = []
        try:
            with session.chdir(collection):
                try:
                    session.run("ansible-test", "integration", "--color", "no", "--local", "--python", pyver,
                                "--continue-on-error", *targets, env=env)
                except nox.command.CommandFailed:
                    failed.append("ansible-test integration")
                finally:
                    integration_junit(collection, junit_path(session, "-targets"), targets)
                    copy_ansible_test_output(collection, session)
                    check_nothing_left(session, collection)
            if pytest_run is not None and pytest_run.finish() != 0:
                failed.append("pytest tests/integration")
        finally:
            if pytest_run is not None:
                pytest_run.stop()
        session.log("AnsiballZ code cache: %d compiled sources in %s" % (len(list(code_cache.glob("[0-9a-f]*"))), code_cache))
        if failed:
            session.error(" and ".join(failed) + " failed")

    @nox.session(name="ansible-doc-%s" % core, python=venv_python, tags=["docs", "core-" + core])
    def ansible_doc(session: nox.Session) -> None:
        """Build the collection, install the tarball, and ansible-doc every module and the role from it."""
        skip_without_python(session, core)
        install_core(session, core)
        tmp = Path(session.create_tmp())
        build, installed = tmp / "build", tmp / "installed"
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(installed, ignore_errors=True)
        session.run("ansible-galaxy", "collection", "build", "--output-path", str(build), str(REPO), env=QUIET_ENV)
        tarball = next(build.glob("zenlayer-cloud-*.tar.gz"))
        listing = subprocess.run(["tar", "-tzf", str(tarball)], stdout=subprocess.PIPE, check=True, text=True).stdout
        unwanted = [n for n in listing.splitlines() if any(part in (".nox", ".nox-bootstrap", ".venvs", ".git", ".ci",
                    "output", "__pycache__") for part in n.split("/"))]
        if unwanted:
            session.error("the tarball holds files build_ignore should keep out: %s" % unwanted[:5])
        session.run("ansible-galaxy", "collection", "install", str(tarball), "-p", str(installed), "--force",
                    env=QUIET_ENV)
        env = dict(QUIET_ENV, ANSIBLE_COLLECTIONS_PATH=str(installed))
        names = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))
        for kind, name, key in [("module", "zenlayer.cloud." + n, "doc") for n in names] + \
                [("role", "zenlayer.cloud." + p.name, "entry_points") for p in sorted((REPO / "roles").iterdir())]:
            # stdout only: ansible-core 2.21 warns on stderr, and session.run() would mix the two
            doc = subprocess.run([os.path.join(session.bin, "ansible-doc"), "-t", kind, "--json", name],
                                 env=dict(os.environ, **env), stdout=subprocess.PIPE, check=False, text=True)
            try:
                entry = json.loads(doc.stdout or "{}").get(name) or {}
            except ValueError:
                entry = {}
            if doc.returncode or not entry.get(key):
                session.error("ansible-doc -t %s %s (exit %d) gave no %s" % (kind, name, doc.returncode, key))
            session.log("ansible-doc -t %s %s: OK" % (kind, name))

    @nox.session(name="ansible-test-%s" % core, python=venv_python, default=False, tags=["core-" + core])
    def ansible_test(session: nox.Session) -> None:
        """Any ansible-test command on the staged collection: nox -e ansible-test-CORE -- integration --venv NAME."""
        skip_without_python(session, core)
        install_core(session, core, *TEST_REQUIREMENTS)
        env = ansible_test_env(session)
        collection = stage(session)
        args = list(session.posargs) or ["integration", "--local"]
        if "--python" not in args:
            args[1:1] = ["--python", pyver]
        with session.chdir(collection):
            try:
                session.run("ansible-test", *args, env=env)
            finally:
                copy_ansible_test_output(collection, session)


for _core, _python in PYTHONS.items():
    add_core_sessions(_core, _python)


# ---------------------------------------------------------------------------------------------- once


@nox.session(python=PYTHONS["2.19"] or False, tags=["release"])
def changelog(session: nox.Session) -> None:
    """antsibull-changelog lint (fragments) and lint-changelog-yaml (changelogs/changelog.yaml)."""
    session.install("antsibull-changelog")
    session.run("antsibull-changelog", "lint", env=QUIET_ENV)
    if (REPO / "changelogs" / "changelog.yaml").is_file():
        session.run("antsibull-changelog", "lint-changelog-yaml", "changelogs/changelog.yaml", env=QUIET_ENV)


@nox.session(python=PYTHONS["2.19"] or False, tags=["release"])
def release(session: nox.Session) -> None:
    """The release checks (scripts/check_release.sh): tarball, execution environment context, changelog lint,
    galaxy-importer with scripts/galaxy-importer.cfg (strict: a warning fails)."""
    install_core(session, "2.19", "antsibull-changelog", "ansible-builder>=3")
    importer = REPO / ".nox" / "galaxy-importer-venv"  # galaxy-importer downgrades attrs: a venv of its own
    env = dict(QUIET_ENV, IMPORTER_VENV=str(importer))
    if session.venv_backend == "uv":
        env["UV"] = shutil.which(nox.virtualenv.UV) or nox.virtualenv.UV
    session.run("bash", "scripts/check_release.sh", session.virtualenv.location, env=env, external=True)


@nox.session(python=PYTHONS["2.19"] or False, default=False)
def reliability(session: nox.Session) -> None:
    """The reliability suite (faults, bad input, secrets, TLS, concurrency); rewrites docs/reliability.md."""
    install_core(session, "2.19", *TEST_REQUIREMENTS)
    session.run("python", "scripts/reliability.py", "-n", str(2 * NCPU), *session.posargs, env=QUIET_ENV)


@nox.session(python=PYTHONS["2.19"] or False, default=False)
def demo(session: nox.Session) -> None:
    """The demo: the role images an instance on the emulator, twice (scripts/demo.py)."""
    install_core(session, "2.19", "requests>=2.25")
    session.run("python", "scripts/demo.py", *session.posargs)


@nox.session(python=PYTHONS["2.19"] or False, default=False)
def bench(session: nox.Session) -> None:
    """The benchmark (tests/bench/run_bench.py); rewrites docs/benchmarks.md and .json. `-- --quick` for 3 minutes."""
    install_core(session, "2.19", *TEST_REQUIREMENTS)
    session.run("python", "tests/bench/run_bench.py", *session.posargs)


# Allow to run the noxfile with `python noxfile.py`, `pipx run noxfile.py`, or similar.
if __name__ == "__main__":
    nox.main()
