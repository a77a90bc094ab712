import { type Document, parseDocument, visit } from 'yaml';

/**
 * A parsed YAML document as plain data, refusing what plain data cannot be: an alias inside the node
 * its anchor names (`a: &x {b: *x}`). The yaml library turns that into a cyclic object, and every walk
 * of it afterwards (prototype-key checks, schema validation, diffing, redaction) recurses until the
 * stack overflows. Deploy configs, values files and rendered manifests all come from the pushed commit,
 * so this is the one place they become data. Pure.
 */
export class YamlCycleError extends Error {
  override name = 'YamlCycleError';
}

export function yamlData(doc: Document, options: { maxAliasCount: number }): unknown {
  let cyclic: string | undefined;
  visit(doc, {
    Alias(_key, node, path) {
      const target = node.resolve(doc);
      if (target && path.includes(target)) {
        cyclic = node.source;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  if (cyclic !== undefined)
    throw new YamlCycleError(
      `the alias *${cyclic.slice(0, 64)} is used inside the node its anchor names, which makes a cyclic value`,
    );
  return doc.toJS(options);
}

/** One YAML document's text as plain data: its first syntax error or a cyclic alias throws. */
export function parseYamlData(text: string, options: { maxAliasCount: number }): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  const [error] = doc.errors;
  if (error) throw new Error(`not valid YAML: ${error.message.split('\n')[0]}`);
  return yamlData(doc, options);
}
