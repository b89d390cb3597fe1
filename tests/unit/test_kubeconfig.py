"""Kubeconfig resolution as kubectl does it: sources, merge rules, relative paths, errors, and kubectl itself."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_ai.conformance.plugins.module_utils import kubeconfig as kc
from ansible_collections.k8s_ai.conformance.plugins.module_utils.kube import Kube, KubeError
from tests.fakeapi import Cluster, FakeKubeServer

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = next((p for p in (ROOT / ".venv" / "bin" / "kubectl", Path(sys.executable).parent / "kubectl") if p.is_file()), None)
SEP = os.pathsep


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No developer KUBECONFIG / K8S_AUTH_* / in-cluster variables; HOME is an empty directory."""
    for name in list(os.environ):
        if name.startswith("K8S_AUTH_") or name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def write(path, clusters=(), users=(), contexts=(), current=None, **extra):
    """A kubeconfig from (name, fields) pairs; contexts as (name, cluster, user)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": n, "cluster": dict(f)} for n, f in clusters],
           "users": [{"name": n, "user": dict(f)} for n, f in users],
           "contexts": [{"name": n, "context": {"cluster": c, "user": u}} for n, c, u in contexts]}
    if current:
        doc["current-context"] = current
    doc.update(extra)
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return str(path)


def single(path, name, server="https://%s.example:6443", current=True, user=None):
    """One cluster, user and context, all called ``name``."""
    return write(path, clusters=[(name, {"server": server % name if "%s" in server else server})],
                 users=[(name, user or {"token": "t-" + name})], contexts=[(name, name, name)],
                 current=name if current else None)


def connect_error(**params):
    with pytest.raises(KubeError) as err:
        Kube.from_params(params)
    assert err.value.method == "CONNECT"
    return str(err.value)


@pytest.fixture
def two_servers():
    with FakeKubeServer(Cluster(name="alpha")) as alpha, FakeKubeServer(Cluster(name="beta")) as beta:
        yield alpha, beta


# -- merge rules, end to end through Kube.from_params -------------------------------------------

def test_first_file_that_sets_current_context_wins(two_servers, tmp_path, monkeypatch):
    alpha, beta = two_servers
    a = str(alpha.write_kubeconfig(tmp_path / "a", context="alpha"))
    b = str(beta.write_kubeconfig(tmp_path / "b", context="beta"))
    assert Kube.from_params(dict(kubeconfig=a + SEP + b)).host == alpha.url
    monkeypatch.setenv("KUBECONFIG", a + SEP + b)
    kube = Kube.from_params({})
    assert kube.host == alpha.url, "kubectl: the first file that sets current-context wins (the Python client: the last)"
    assert kube.identity == {"server": alpha.url, "context": "alpha", "kubeconfig": [a, b], "source": "kubeconfig"}
    assert kube.version()["gitVersion"] == "v1.35.2"
    monkeypatch.setenv("KUBECONFIG", b + SEP + a)
    assert Kube.from_params({}).host == beta.url


def test_kubeconfig_option_may_be_a_list_or_a_pathsep_string(two_servers, tmp_path):
    alpha, beta = two_servers
    a = str(alpha.write_kubeconfig(tmp_path / "a", context="alpha"))
    b = str(beta.write_kubeconfig(tmp_path / "b", context="beta"))
    kube = Kube.from_params(dict(kubeconfig=[b, a]))
    assert kube.host == beta.url and kube.identity["kubeconfig"] == [b, a]
    assert kube.version()["gitVersion"] == "v1.35.2"
    assert Kube.from_params(dict(kubeconfig=[b, a], context="alpha")).host == alpha.url
    assert Kube.from_params(dict(kubeconfig=a + SEP + b)).host == alpha.url


def test_file_without_current_context_defers_to_a_later_one(tmp_path):
    a = single(tmp_path / "a", "alpha", current=False)
    b = single(tmp_path / "b", "beta")
    config = kc.resolve([a, b], environ={})
    assert (config.context, config.server) == ("beta", "https://beta.example:6443")
    assert config.current_context_from == b


def test_first_file_defining_a_name_wins_the_whole_entry(tmp_path):
    a = write(tmp_path / "a", clusters=[("shared", {"server": "https://a:6443", "insecure-skip-tls-verify": True})],
              contexts=[("ctx", "shared", "")], current="ctx")
    b = write(tmp_path / "b", clusters=[("shared", {"server": "https://b:6443", "tls-server-name": "b"})],
              users=[("u", {"token": "b"})], contexts=[("ctx", "other", "u")], current="other")
    config = kc.resolve([a, b], environ={})
    assert config.context == "ctx" and config.server == "https://a:6443"
    assert config.entry("clusters", "shared") == {"server": "https://a:6443", "insecure-skip-tls-verify": True}
    assert config.origins["clusters"]["shared"] == a and config.origins["users"]["u"] == b


def test_sources_precedence(tmp_path, monkeypatch, clean_env):
    opt, auth, env1, env2 = (single(tmp_path / n, n) for n in ("opt", "auth", "env1", "env2"))
    default = single(clean_env / ".kube" / "config", "default")
    monkeypatch.setenv("KUBECONFIG", env1 + SEP + env2)
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", auth)
    assert kc.resolve(opt).context == "opt"
    assert kc.resolve().context == "auth"
    monkeypatch.delenv("K8S_AUTH_KUBECONFIG")
    assert kc.resolve().context == "env1"
    kube = Kube.from_params({})  # KUBECONFIG read at call time, not when the Python client was imported
    assert kube.host == "https://env1.example:6443"
    assert kube.identity["context"] == "env1" and kube.identity["kubeconfig"] == [env1, env2]
    monkeypatch.delenv("KUBECONFIG")
    assert kc.resolve().files == [default]
    assert Kube.from_params({}).identity["kubeconfig"] == [default]


def test_context_precedence(tmp_path, monkeypatch):
    path = write(tmp_path / "k", clusters=[(n, {"server": "https://%s:1" % n}) for n in "abc"],
                 contexts=[(n, n, "") for n in "abc"], current="a")
    assert kc.resolve(path).context == "a"
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "b")
    assert kc.resolve(path).context == "b"
    assert kc.resolve(path, "c").context == "c"
    assert Kube.from_params(dict(kubeconfig=path)).host == "https://b:1"
    assert Kube.from_params(dict(kubeconfig=path, context="c")).host == "https://c:1"


def test_missing_files_in_kubeconfig_env_are_skipped(tmp_path, monkeypatch):
    b = single(tmp_path / "b", "beta")
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("KUBECONFIG", SEP.join([str(tmp_path / "missing"), str(tmp_path / "empty"), "", b, b]))
    config = kc.resolve()
    assert config.context == "beta" and config.files == [str(tmp_path / "empty"), b]


def test_relative_file_references_resolve_against_the_defining_file(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two" / "deeper"
    for d in (one, two):
        d.mkdir(parents=True)
        for name in ("ca.crt", "client.crt", "client.key", "token"):
            (d / name).write_text(name)
    a = write(one / "config", clusters=[("c", {"server": "https://c:6443", "certificate-authority": "ca.crt"})],
              contexts=[("ctx", "c", "u")], current="ctx")
    b = write(two / "config", users=[("u", {"client-certificate": "client.crt", "client-key": "./client.key"}),
                                     ("t", {"tokenFile": "token"}),
                                     ("e", {"exec": {"command": "bin/get-token", "apiVersion": "client.authentication.k8s.io/v1"}}),
                                     ("p", {"exec": {"command": "get-token", "apiVersion": "client.authentication.k8s.io/v1"}})])
    monkeypatch.chdir(tmp_path / "home")
    config = kc.resolve([a, b])
    assert config.entry("clusters", "c")["certificate-authority"] == str(one / "ca.crt")
    assert config.entry("users", "u") == {"client-certificate": str(two / "client.crt"), "client-key": str(two / "client.key")}
    assert config.entry("users", "t")["tokenFile"] == str(two / "token")
    assert config.entry("users", "e")["exec"]["command"] == str(two / "bin" / "get-token")
    assert config.entry("users", "p")["exec"]["command"] == "get-token", "a command without a separator is looked up on PATH"
    configuration = Kube.from_params(dict(kubeconfig=[a, b])).api_client.configuration
    assert (configuration.ssl_ca_cert, configuration.cert_file, configuration.key_file) == (
        str(one / "ca.crt"), str(two / "client.crt"), str(two / "client.key"))


def test_inline_dict_kubeconfig(tmp_path):
    doc = yaml.safe_load(Path(single(tmp_path / "k", "inline")).read_text())
    kube = Kube.from_params(dict(kubeconfig=doc))
    assert kube.identity == {"server": "https://inline.example:6443", "context": "inline", "kubeconfig": [], "source": "kubeconfig"}


# -- explicit credentials and in-cluster ---------------------------------------------------------

def test_explicit_credentials_load_no_kubeconfig(tmp_path, monkeypatch):
    bad = tmp_path / "broken"
    bad.write_text("{{ not yaml")
    monkeypatch.setenv("KUBECONFIG", str(bad))
    kube = Kube.from_params(dict(host="https://api.example:6443/", api_key="sekret-token"))
    assert kube.host == "https://api.example:6443"
    assert kube.identity == {"server": "https://api.example:6443", "context": None, "kubeconfig": [], "source": "explicit"}
    assert "sekret" not in repr(kube.identity)


def test_identity_never_holds_credentials(tmp_path):
    path = write(tmp_path / "k", clusters=[("c", {"server": "https://admin:hunter2@api.example:6443"})],
                 users=[("u", {"token": "sekret-token", "password": "pw"})], contexts=[("x", "c", "u")], current="x")
    identity = Kube.from_params(dict(kubeconfig=path)).identity
    assert identity["server"] == "https://api.example:6443"
    assert not any(s in repr(identity) for s in ("sekret", "hunter2", "admin"))


@pytest.fixture
def fake_incluster(monkeypatch):
    """load_incluster_config replaced by one that points the default configuration at 10.0.0.1."""
    import kubernetes

    calls = []

    def load():
        calls.append(1)
        configuration = kubernetes.client.Configuration()
        configuration.host = "https://10.0.0.1:443"
        kubernetes.client.Configuration.set_default(configuration)

    monkeypatch.setattr(kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default)
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", load)
    return calls


def test_in_cluster_only_when_no_kubeconfig_file_exists(tmp_path, monkeypatch, fake_incluster, clean_env):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    single(clean_env / ".kube" / "config", "home")
    kube = Kube.from_params({})
    assert kube.host == "https://home.example:6443", "kubectl: a kubeconfig file first, in-cluster only without one"
    assert kube.identity["source"] == "kubeconfig" and not fake_incluster
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    kube = Kube.from_params({})
    assert kube.host == "https://10.0.0.1:443"
    assert kube.identity == {"server": "https://10.0.0.1:443", "context": None, "kubeconfig": [], "source": "in-cluster"}


def test_no_kubeconfig_anywhere_is_a_clear_error(clean_env):
    text = connect_error()
    assert "no kubeconfig file found: %s (named by the default location ~/.kube/config) does not exist" % (
        clean_env / ".kube" / "config") in text


# -- errors a person can act on --------------------------------------------------------------------

def test_missing_explicit_file_is_named_with_what_named_it(tmp_path, monkeypatch):
    good = single(tmp_path / "good", "good")
    missing = str(tmp_path / "tokens" / "kubeconfig")  # "tokens" in the path must not mask the message
    text = connect_error(kubeconfig=[good, missing])
    assert "kubeconfig file %s (named by option kubeconfig) does not exist" % missing in text
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", missing)
    assert "kubeconfig file %s (named by K8S_AUTH_KUBECONFIG) does not exist" % missing in connect_error()


def test_kubeconfig_env_naming_only_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "x") + SEP + str(tmp_path / "y"))
    text = connect_error()
    assert "%s, %s (named by KUBECONFIG) do not exist" % (tmp_path / "x", tmp_path / "y") in text


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "tokens.yaml"
    path.write_text("apiVersion: v1\nclusters:\n- name: x\n  cluster: {server: [unclosed\n")
    text = connect_error(kubeconfig=str(path))
    assert "kubeconfig file %s (named by option kubeconfig) is not valid YAML at line 5" % path in text


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list"
    path.write_text("- a\n- b\n")
    assert "kubeconfig file %s (named by option kubeconfig) is not a kubeconfig: its top level is a list, not a mapping" % path \
        in connect_error(kubeconfig=str(path))


def test_duplicate_name_in_one_file_is_an_error_as_in_kubectl(tmp_path):
    path = write(tmp_path / "dup", clusters=[("x", {"server": "https://1:1"}), ("x", {"server": "https://2:2"})],
                 contexts=[("c", "x", "")], current="c")
    assert "duplicate cluster name 'x' in 'clusters'" in connect_error(kubeconfig=path)


def test_no_current_context_and_no_context_given(tmp_path):
    a = single(tmp_path / "a", "alpha", current=False)
    b = single(tmp_path / "b", "beta", current=False)
    text = connect_error(kubeconfig=[a, b])
    assert "none of the kubeconfig files (%s, %s) sets current-context" % (a, b) in text
    assert "neither option context nor K8S_AUTH_CONTEXT is set" in text and "(alpha, beta)" in text


def test_unknown_context_lists_the_defined_ones(tmp_path, monkeypatch):
    a = single(tmp_path / "a", "alpha")
    b = single(tmp_path / "b", "beta")
    text = connect_error(kubeconfig=[a, b], context="gamma")
    assert "context 'gamma' (from option context) is not defined in %s, %s; defined contexts: alpha, beta" % (a, b) in text
    monkeypatch.setenv("K8S_AUTH_CONTEXT", "delta")
    assert "context 'delta' (from K8S_AUTH_CONTEXT)" in connect_error(kubeconfig=a)
    monkeypatch.delenv("K8S_AUTH_CONTEXT")
    c = write(tmp_path / "c", contexts=[("x", "alpha", "alpha")], current="stale")
    assert "context 'stale' (from current-context of %s)" % c in connect_error(kubeconfig=[c, a])


def test_context_naming_undefined_cluster_or_user(tmp_path):
    a = write(tmp_path / "a", clusters=[("c", {"server": "https://c:1"})], users=[("u", {"token": "x"})],
              contexts=[("no-cluster", "gone", "u"), ("no-user", "c", "ghost")], current="no-cluster")
    text = connect_error(kubeconfig=a)
    assert "context 'no-cluster' (defined in %s) names cluster 'gone', which no kubeconfig file defines" % a in text
    assert "defined clusters: c" in text
    text = connect_error(kubeconfig=a, context="no-user")
    assert "names user 'ghost', which no kubeconfig file defines (%s); defined users: u" % a in text


@pytest.mark.parametrize("section,key", [("cluster", "certificate-authority"), ("user", "client-certificate"),
                                         ("user", "client-key"), ("user", "tokenFile")])
def test_missing_file_of_the_chosen_context(tmp_path, section, key):
    secrets = tmp_path / "tokens"
    secrets.mkdir()
    cluster, user = {"server": "https://c:1"}, {}
    (cluster if section == "cluster" else user)[key] = "tokens/absent.pem"
    a = write(tmp_path / "config", clusters=[("c", cluster)], users=[("u", user)], contexts=[("x", "c", "u")], current="x")
    text = connect_error(kubeconfig=a)
    assert "%s file %s of %s '%s' (referenced by kubeconfig %s) does not exist" % (
        key, secrets / "absent.pem", section, "c" if section == "cluster" else "u", a) in text
    other = write(tmp_path / "other", clusters=[("c", cluster)], contexts=[("x", "c", "")], current="x")
    if section == "user":  # only what the chosen context references is checked
        assert Kube.from_params(dict(kubeconfig=other)).identity["context"] == "x"


@pytest.mark.parametrize("kind", ["directory", "unreadable"])
def test_unusable_file_of_the_chosen_context(tmp_path, kind):
    ca = tmp_path / "ca.crt"
    if kind == "directory":
        ca.mkdir()
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        ca.write_text("x")
        ca.chmod(0)
    a = write(tmp_path / "config", clusters=[("c", {"server": "https://c:1", "certificate-authority": "ca.crt"})],
              contexts=[("x", "c", "")], current="x")
    problem = "is a directory" if kind == "directory" else "cannot be read (Permission denied)"
    assert "certificate-authority file %s of cluster 'c' (referenced by kubeconfig %s) %s" % (ca, a, problem) \
        in connect_error(kubeconfig=a)


# -- the real kubectl agrees -----------------------------------------------------------------------

needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="no kubectl in .venv/bin (make install puts one there on linux-amd64)")


def kubectl(env, *args):
    proc = subprocess.run([str(KUBECTL), "config", *args], env=env, capture_output=True, text=True, timeout=60, check=False,
                          cwd=env["HOME"])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def compare_files(tmp_path):
    """Kubeconfigs in different directories, with overlapping names and CA files of different content."""
    one, two, three = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    for d in (one, two, three):
        d.mkdir()
        (d / "ca.crt").write_text("CA of %s\n" % d.name)
    files = {
        "a": write(one / "config", clusters=[("shared", {"server": "https://a-shared:6443", "certificate-authority": "ca.crt"}),
                                             ("a", {"server": "https://a:6443", "certificate-authority": "ca.crt"})],
                   users=[("u", {"token": "tok-a"})], contexts=[("ctx-a", "a", "u"), ("ctx-shared", "shared", "u")],
                   current="ctx-a"),
        "b": write(two / "config", clusters=[("shared", {"server": "https://b-shared:6443", "certificate-authority": "ca.crt"}),
                                             ("b", {"server": "https://b:6443", "certificate-authority": "ca.crt"})],
                   users=[("u", {"token": "tok-b"})], contexts=[("ctx-b", "b", "u"), ("ctx-shared", "b", "u")],
                   current="ctx-b"),
        "n": write(three / "config", clusters=[("nc", {"server": "https://n:6443", "certificate-authority": "ca.crt"})],
                   users=[("u", {"token": "tok-n"})], contexts=[("ctx-n", "nc", "u"), ("ctx-shared", "nc", "u")]),
        "missing": str(tmp_path / "missing"),
    }
    return files


@needs_kubectl
@pytest.mark.parametrize("order,context", [
    ("a:b", None), ("b:a", None), ("n:b", None), ("n:a:b", None), ("missing:b:a", None),
    ("a:b", "ctx-shared"), ("b:a", "ctx-shared"), ("n:a", "ctx-shared"), ("n:b:a", "ctx-b"),
])
def test_resolution_matches_kubectl(compare_files, order, context, clean_env):
    kubeconfig = SEP.join(compare_files[name] for name in order.split(":"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(clean_env), "KUBECONFIG": kubeconfig}
    extra = ["--context", context] if context else []
    config = kc.resolve(context=context, environ={"KUBECONFIG": kubeconfig})
    assert config.context == (context or kubectl(env, "current-context"))
    assert config.server == kubectl(env, "view", "--minify", *extra, "-o", "jsonpath={.clusters[0].cluster.server}")
    ca = kubectl(env, "view", "--minify", "--flatten", *extra, "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
    cluster = config.entry("clusters", config.entry("contexts", config.context)["cluster"])
    assert base64.b64decode(ca) == Path(cluster["certificate-authority"]).read_bytes(), "relative CA resolved like kubectl"


@needs_kubectl
def test_kubectl_also_refuses_what_we_refuse(compare_files, tmp_path, clean_env):
    dup = write(tmp_path / "dup", clusters=[("x", {"server": "https://1:1"}), ("x", {"server": "https://2:2"})])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(clean_env)}
    for files in ([compare_files["n"]], [dup, compare_files["a"]]):
        env["KUBECONFIG"] = SEP.join(files)
        proc = subprocess.run([str(KUBECTL), "config", "current-context"], env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.returncode != 0
        with pytest.raises(kc.KubeconfigError):
            kc.resolve(environ={"KUBECONFIG": env["KUBECONFIG"]})
