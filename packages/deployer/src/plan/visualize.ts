import { naturalSort } from './natural-sort.js';
import type { Manifest, ServiceInstance } from './types.js';

const FILL_BY_TYPE: Record<string, string> = {
  webapp: '#dbeafe',
  proxy: '#fde68a',
  process: '#e5e7eb',
};

/**
 * The deployment as a Graphviz graph (disnix-visualize): one cluster per target, one node per service instance,
 * an edge from a service to every instance of what it depends on (dashed for `connectsTo`).
 */
export function manifestToDot(manifest: Manifest): string {
  const lines = [
    'digraph nodix {',
    '  rankdir=LR;',
    '  compound=true;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
    '  edge [color="#374151"];',
  ];
  const edges: string[] = [];
  for (const targetName of naturalSort(Object.keys(manifest.targets))) {
    const target = manifest.targets[targetName];
    if (target === undefined) continue;
    const hostname = typeof target.properties.hostname === 'string' ? target.properties.hostname : targetName;
    lines.push(`  subgraph ${quote(`cluster_${targetName}`)} {`);
    lines.push(`    label=${quote(hostname === targetName ? targetName : `${targetName} (${hostname})`)};`);
    lines.push('    style="rounded"; color="#6b7280"; fontname="Helvetica";');
    const names = naturalSort(Object.keys(target.services));
    if (names.length === 0)
      lines.push(`    ${quote(`${targetName}/(empty)`)} [label="(no services)", shape=plaintext, style=""];`);
    for (const name of names) {
      const instance = target.services[name] as ServiceInstance;
      const fill = FILL_BY_TYPE[instance.type] ?? '#ffffff';
      lines.push(
        `    ${quote(nodeId(targetName, name))} [label=${quote(label(instance))}, fillcolor=${quote(fill)}];`,
      );
      for (const [refs, style] of [
        [instance.dependsOn, ''],
        [instance.connectsTo, ' [style=dashed]'],
      ] as const) {
        for (const ref of refs) {
          for (const address of ref.addresses) {
            edges.push(
              `  ${quote(nodeId(targetName, name))} -> ${quote(nodeId(address.target, ref.service))}${style};`,
            );
          }
        }
      }
    }
    lines.push('  }');
  }
  return `${[...lines, ...edges, '}'].join('\n')}\n`;
}

/** Renders DOT to SVG with Graphviz compiled to WebAssembly (@viz-js/viz): nothing to install on the machine. */
export async function renderSvg(dot: string): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg', engine: 'dot' });
}

function nodeId(target: string, service: string): string {
  return `${target}/${service}`;
}

function label(instance: ServiceInstance): string {
  const details = [
    instance.config.dnsName,
    instance.config.port === undefined ? undefined : `:${instance.config.port}`,
  ]
    .filter((part) => typeof part === 'string' || typeof part === 'number')
    .join(' ');
  return details ? `${instance.name}\n${details}` : instance.name;
}

/** A DOT double-quoted string: backslashes and quotes escaped, newlines as DOT's line breaks. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}
