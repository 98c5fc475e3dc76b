/**
 * Kubernetes object validation for rendered manifests:
 *  - `kubernetes-models` validates types, enums and required fields against the OpenAPI schemas;
 *  - those schemas allow unknown fields, which `kubectl apply` (strict field validation) rejects, so
 *    we also walk every object through the attribute maps of @kubernetes/client-node's generated
 *    models and report any field the API does not define (a typo such as `readOnlyRootFileSystem`).
 */
import * as k8s from "@kubernetes/client-node";

type AttributeMap = { name: string; baseName: string; type: string }[];

function attributeMap(type: string): AttributeMap | undefined {
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap }>)[type];
  return cls?.getAttributeTypeMap?.();
}

/** Paths of fields that the Kubernetes API types do not define. */
export function unknownFields(value: unknown, type: string, path = ""): string[] {
  if (value === null || value === undefined) return [];
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr)
    return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, arr[1], `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map && typeof value === "object")
    return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1], `${path}.${k}`));
  const attrs = attributeMap(type);
  if (!attrs || typeof value !== "object") return []; // scalars, IntOrString, any, Date …
  const known = new Map(attrs.map((a) => [a.baseName, a.type]));
  const out: string[] = [];
  for (const [key, v] of Object.entries(value as object)) {
    const t = known.get(key);
    if (!t) out.push(`${path}.${key}`);
    else out.push(...unknownFields(v, t, `${path}.${key}`));
  }
  return out;
}

/** Validates one object; returns problems (empty when valid). */
export async function validateObject(obj: any): Promise<string[]> {
  const { apiVersion, kind } = obj ?? {};
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["missing apiVersion/kind"];
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const modulePath = group
    ? `kubernetes-models/${group}/${version}/${kind}`
    : `kubernetes-models/${version}/${kind}`;
  let Model: any;
  try {
    Model = (await import(modulePath))[kind];
  } catch {
    return [`no schema for ${apiVersion} ${kind}`];
  }
  const problems: string[] = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push((e as Error).message);
  }
  const typeName = `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
  if (!attributeMap(typeName)) problems.push(`no client model ${typeName}`);
  else problems.push(...unknownFields(obj, typeName).map((p) => `unknown field ${p}`));
  return problems;
}
