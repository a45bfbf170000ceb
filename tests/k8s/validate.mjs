// Validate Kubernetes objects against their OpenAPI schemas (kubernetes-models) and the
// Prometheus Operator CRD schemas (@kubernetes-models/prometheus-operator).
// Input on stdin: a JSON array of objects. Output on stdout: a JSON array, one entry per
// object: {"kind", "name", "ok", "error"}. Exit status 0 even when objects are invalid;
// the caller asserts. Unknown apiVersion/kind is reported as an error, never skipped.
import * as k8s from "kubernetes-models";
import { monitoringCoreosCom } from "@kubernetes-models/prometheus-operator";

const groups = { ...k8s, monitoringCoreosCom };

function groupKey(apiVersion) {
  // "apps/v1" -> ["apps", "v1"]; "v1" -> ["core"... in kubernetes-models it is `v1` at top]
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (!group) return [k8s, version];
  const name = group.replace(/\.([a-z])/g, (_, c) => c.toUpperCase());
  return [groups[name], version];
}

function modelFor(obj) {
  const [group, version] = groupKey(obj.apiVersion || "");
  const ns = group && group[version];
  return ns && ns[obj.kind];
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((obj) => {
    const entry = { kind: obj.kind, name: obj.metadata && obj.metadata.name, ok: false, error: null };
    const Model = modelFor(obj);
    if (!Model) {
      entry.error = `no schema for ${obj.apiVersion} ${obj.kind}`;
      return entry;
    }
    try {
      new Model(obj).validate();
      entry.ok = true;
    } catch (e) {
      entry.error = String(e.message || e);
    }
    return entry;
  });
  process.stdout.write(JSON.stringify(out));
});
