#!/usr/bin/env python3
"""The Kubernetes manifests in deploy/kubernetes: yamllint (strict, with
deploy/.yamllint) and the fields that make the pattern work, loaded with
python3-yaml: the serving pod and the node exporter mount the same hostPath
as the ring root and the pod's HUGESHIM_RING_ROOT points at it, the shim is
preloaded from a volume the pod mounts, huge pages are requested and
limited alike, the node-preparing init container is privileged, and the
scrape port is 9464 everywhere it is named."""
import glob
import os
import subprocess
import sys

import yaml

SOURCE = sys.argv[1]
DEPLOY = os.path.join(SOURCE, "deploy")
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def load_all():
    docs = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "kubernetes", "*.yaml"))):
        with open(path) as f:
            docs += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return docs


def one(docs, kind, name):
    found = [d for _, d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    check(len(found) == 1, f"one {kind} {name} (found {len(found)})")
    return found[0] if found else None


def volume(pod_spec, name):
    return next((v for v in pod_spec.get("volumes", []) if v["name"] == name), None)


def mount_of(container, path_prefix=None, name=None):
    for m in container.get("volumeMounts", []):
        if (name and m["name"] == name) or (path_prefix and path_prefix.startswith(m["mountPath"].rstrip("/") + "/")):
            return m
    return None


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


lint = subprocess.run(["yamllint", "--strict", "-c", os.path.join(DEPLOY, ".yamllint"),
                       os.path.join(DEPLOY, "kubernetes")], capture_output=True, text=True)
check(lint.returncode == 0, "yamllint --strict:\n" + lint.stdout + lint.stderr)

docs = load_all()
daemonset = one(docs, "DaemonSet", "hugeshim-node")
serving = one(docs, "Deployment", "vllm")
service = one(docs, "Service", "hugeshim-node")
monitor = one(docs, "ServiceMonitor", "hugeshim-node")
config = one(docs, "ConfigMap", "hugeshim-node-config")

if daemonset and serving:
    node_pod = daemonset["spec"]["template"]["spec"]
    serving_pod = serving["spec"]["template"]["spec"]
    exporter = next(c for c in node_pod["containers"] if c["name"] == "exporter")
    app = serving_pod["containers"][0]

    # The ring root: one hostPath, mounted by the exporter, the init
    # container that creates it, and the serving container, at the path the
    # serving container's HUGESHIM_RING_ROOT names; the exporter serves it.
    ring_path = env_of(app).get("HUGESHIM_RING_ROOT")
    check(ring_path == "/run/hugeshim", f"serving HUGESHIM_RING_ROOT is /run/hugeshim, not {ring_path}")
    app_mount = next((m for m in app.get("volumeMounts", []) if m["mountPath"] == ring_path), None)
    check(app_mount is not None, "serving container mounts the ring root at HUGESHIM_RING_ROOT")
    exp_mount = next((m for m in exporter.get("volumeMounts", []) if m["mountPath"] == ring_path), None)
    check(exp_mount is not None, "exporter mounts the ring root")
    if app_mount and exp_mount:
        app_vol, exp_vol = volume(serving_pod, app_mount["name"]), volume(node_pod, exp_mount["name"])
        check(app_vol and "hostPath" in app_vol, "serving ring volume is a hostPath")
        check(exp_vol and "hostPath" in exp_vol, "exporter ring volume is a hostPath")
        if app_vol and exp_vol and "hostPath" in app_vol and "hostPath" in exp_vol:
            check(app_vol["hostPath"]["path"] == exp_vol["hostPath"]["path"] == "/run/hugeshim",
                  "serving pod and exporter share hostPath /run/hugeshim")
    args = exporter.get("command", []) + exporter.get("args", [])
    check("serve" in args and "--root" in args and args[args.index("--root") + 1] == ring_path,
          f"exporter runs hugeshim serve --root {ring_path}: {args}")
    # Liveness by pid needs one pid namespace (docs/DEPLOY.md).
    check(node_pod.get("hostPID") is True and serving_pod.get("hostPID") is True,
          "exporter and serving pod both run with hostPID")

    # The preload comes from a volume the serving container mounts, filled
    # by an init container that mounts the same volume.
    preload = env_of(app).get("LD_PRELOAD", "")
    lib_mount = mount_of(app, path_prefix=preload)
    check(preload.endswith("libhugeshim.so.0") and lib_mount is not None,
          f"LD_PRELOAD {preload!r} lies in a mounted volume")
    if lib_mount:
        fillers = [c for c in serving_pod.get("initContainers", []) if mount_of(c, name=lib_mount["name"])]
        check(len(fillers) == 1 and preload in fillers[0]["command"],
              "an init container copies the library into that volume")

    # Huge pages: requested and limited alike (Kubernetes requires it), with
    # a HugePages medium volume, and the memlock capability.
    res = app.get("resources", {})
    req, lim = res.get("requests", {}), res.get("limits", {})
    check("hugepages-2Mi" in req and req.get("hugepages-2Mi") == lim.get("hugepages-2Mi"),
          "hugepages-2Mi requests equal limits")
    check(any(v.get("emptyDir", {}).get("medium") == "HugePages-2Mi" for v in serving_pod["volumes"]),
          "a HugePages-2Mi emptyDir")
    check("IPC_LOCK" in app.get("securityContext", {}).get("capabilities", {}).get("add", []),
          "serving container may lock memory (IPC_LOCK)")

    # The node-preparing init container: privileged, root, runs the doctor
    # through `hugeshim node` with the mounted node configuration.
    init = node_pod["initContainers"][0]
    sc = init.get("securityContext", {})
    check(sc.get("privileged") is True and sc.get("runAsUser") == 0, "prepare-node is privileged and root")
    check("hugeshim node --config /etc/hugeshim/node.conf" in " ".join(init["command"]),
          "prepare-node runs hugeshim node with /etc/hugeshim/node.conf")
    conf_mount = next((m for m in init["volumeMounts"] if m["mountPath"] == "/etc/hugeshim"), None)
    check(conf_mount and volume(node_pod, conf_mount["name"]).get("configMap", {}).get("name") ==
          "hugeshim-node-config", "node.conf comes from the ConfigMap")
    check(not exporter.get("securityContext", {}).get("privileged", False), "the exporter is not privileged")

    # Scrape port 9464: annotation, container port, service, monitor.
    ann = daemonset["spec"]["template"]["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9464",
          "scrape annotations name port 9464")
    ports = {p["name"]: p["containerPort"] for p in exporter.get("ports", [])}
    check(ports.get("metrics") == 9464, "exporter port metrics is 9464")
    check("0.0.0.0:9464" in args, "exporter listens on 9464")
    if service:
        check(any(p["port"] == 9464 and p["targetPort"] == "metrics" for p in service["spec"]["ports"]),
              "service port 9464 -> metrics")
        check(service["spec"]["selector"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items(),
              "service selects the DaemonSet's pods")
    if monitor and service:
        check(monitor["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor scrapes port metrics")
        check(monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items(),
              "ServiceMonitor selects the service")

if config:
    text = config["data"]["node.conf"]
    with open(os.path.join(DEPLOY, "node", "node.conf")) as f:
        settings = [l for l in f.read().splitlines() if l and not l.startswith("#")]
    check(text.splitlines() == settings, "the ConfigMap holds the settings of deploy/node/node.conf")

for f in failures:
    print("FAIL:", f)
print(f"manifests: {len(docs)} documents, {len(failures)} failures")
sys.exit(1 if failures else 0)
