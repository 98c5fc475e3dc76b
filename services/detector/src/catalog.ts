/**
 * Resource catalog: classifies canonical resource URIs with the `resources:` config (first match wins;
 * `*` within a path segment, `**` across segments — picomatch glob semantics on the URI).
 */
import type { ResourceRule } from "@identrail/config";
import picomatch from "picomatch";

export interface Classified {
  kind: ResourceRule["kind"];
  environment?: string;
  consumers?: string[];
  producers?: string[];
  approved_destinations?: string[];
  match: string;
}

export class ResourceCatalog {
  private rules: { rule: ResourceRule; test: (s: string) => boolean }[];
  private cache = new Map<string, Classified | null>();

  constructor(rules: ResourceRule[]) {
    this.rules = rules.map((rule) => ({ rule, test: picomatch(stripScheme(rule.match), { dot: true }) }));
    this.schemes = rules.map((r) => schemeOf(r.match));
  }
  private schemes: string[];

  classify(uri: string): Classified | null {
    const hit = this.cache.get(uri);
    if (hit !== undefined) return hit;
    let out: Classified | null = null;
    const scheme = schemeOf(uri);
    const rest = stripScheme(uri);
    for (let i = 0; i < this.rules.length; i++) {
      if (this.schemes[i] !== scheme) continue;
      if (this.rules[i].test(rest)) {
        const r = this.rules[i].rule;
        out = {
          kind: r.kind,
          environment: r.environment,
          consumers: r.consumers,
          producers: r.producers,
          approved_destinations: r.approved_destinations,
          match: r.match,
        };
        break;
      }
    }
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(uri, out);
    return out;
  }
}

function schemeOf(uri: string): string {
  const i = uri.indexOf("://");
  return i < 0 ? "" : uri.slice(0, i);
}
function stripScheme(uri: string): string {
  const i = uri.indexOf("://");
  return i < 0 ? uri : uri.slice(i + 3);
}
