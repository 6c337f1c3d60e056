/**
 * The lineage of a table as a graph for people: the table, what it derives from and what derives
 * from it (DERIVED_FROM, up to three steps either way), its partitions and the nodes they are
 * placed on, and the commands that targeted or changed any of them. Vanished objects are left out.
 */
import type { Driver } from './neo4j.js';

export interface LineageNode {
  id: string;
  label: string;
  name: string;
  /** kind of table, role of a placement's node, status of a command. */
  detail: string | null;
}

export interface LineageEdge {
  from: string;
  to: string;
  type: string;
  role: string | null;
}

export interface Lineage {
  nodes: LineageNode[];
  edges: LineageEdge[];
}

const key = (labels: string[], id: unknown, fallback: string) => `${labels[0] ?? 'Object'}:${String(id ?? fallback)}`;

export async function lineage(driver: Driver, source: string, table: string): Promise<Lineage> {
  const { records } = await driver.executeQuery(
    `MATCH (t:Table) WHERE t.vanishedAt IS NULL AND t.source = $source AND (t.name = $table OR t.id = $table)
     OPTIONAL MATCH p1 = (t)-[:DERIVED_FROM*1..3]-(:Table)
     WITH t, collect(p1) AS a
     OPTIONAL MATCH p2 = (t)-[:HAS_PARTITION]->(p:Partition)-[:PLACED_ON]->(:Node) WHERE p.vanishedAt IS NULL
     WITH t, a, collect(p2) AS b
     OPTIONAL MATCH p3 = (:Command)-[:TARGETS|CHANGED]->(t)
     WITH t, a, b, collect(p3) AS c
     OPTIONAL MATCH p4 = (:Command)-[:TARGETS|CHANGED]->(:Partition)<-[:HAS_PARTITION]-(t)
     WITH t, a, b, c, collect(p4) AS d
     WITH t, a + b + c + d AS paths
     RETURN [t] + reduce(ns = [], p IN paths | ns + nodes(p)) AS nodes, reduce(rs = [], p IN paths | rs + relationships(p)) AS rels`,
    { source, table },
  );
  const nodes = new Map<string, LineageNode>();
  const edges = new Map<string, LineageEdge>();
  const ids = new Map<string, string>(); // element id → our key
  for (const rec of records) {
    for (const n of rec.get('nodes') as { elementId: string; labels: string[]; properties: Record<string, unknown> }[]) {
      const pr = n.properties;
      if (pr.vanishedAt !== undefined && pr.vanishedAt !== null) continue;
      const k = key(n.labels, pr.id ?? pr.name, n.elementId);
      ids.set(n.elementId, k);
      nodes.set(k, {
        id: k,
        label: n.labels[0] ?? 'Object',
        name: String(pr.name ?? pr.action ?? pr.id ?? n.elementId),
        detail: (pr.kind ?? pr.status ?? pr.state ?? null) as string | null,
      });
    }
    for (const r of rec.get('rels') as {
      elementId: string;
      startNodeElementId: string;
      endNodeElementId: string;
      type: string;
      properties: Record<string, unknown>;
    }[]) {
      const from = ids.get(r.startNodeElementId);
      const to = ids.get(r.endNodeElementId);
      if (from && to) edges.set(r.elementId, { from, to, type: r.type, role: (r.properties.role as string | undefined) ?? null });
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}
