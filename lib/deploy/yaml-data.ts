import { type Document, isAlias, isCollection, isDocument, isPair, parseDocument } from 'yaml';

/**
 * A parsed YAML document as plain data, refusing what plain data cannot be: an alias inside the node
 * its anchor names (`a: &x {b: *x}`). The yaml library turns that into a cyclic object, and every walk
 * of it afterwards (prototype-key checks, schema validation, diffing, redaction) recurses until the
 * stack overflows. Deploy configs, values files and rendered manifests all come from the pushed commit,
 * so this is the one place they become data. One linear pass, no recursion: a document of many aliases
 * or deep nesting costs its size, and more alias nodes than `maxAliasCount` are refused before any is
 * resolved. Pure.
 */
export class YamlCycleError extends Error {
  override name = 'YamlCycleError';
}

type Step = { node: unknown; exit: boolean };

export function yamlData(doc: Document, options: { maxAliasCount: number }): unknown {
  const anchors = new Map<string, unknown>(); // anchor name → the node it names so far (document order)
  const open = new Set<unknown>(); // anchored nodes whose subtree is being walked
  let aliases = 0;
  const stack: Step[] = [{ node: isDocument(doc) ? doc.contents : doc, exit: false }];
  while (stack.length > 0) {
    const { node, exit } = stack.pop() as Step;
    if (exit) {
      open.delete(node);
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (isAlias(node)) {
      aliases += 1;
      if (aliases > options.maxAliasCount)
        throw new YamlCycleError(`more than ${options.maxAliasCount} aliases: refused before expanding them`);
      if (open.has(anchors.get(node.source)))
        throw new YamlCycleError(
          `the alias *${node.source.slice(0, 64)} is used inside the node its anchor names, which makes a cyclic value`,
        );
      continue;
    }
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor) {
      anchors.set(anchor, node);
      open.add(node);
      stack.push({ node, exit: true });
    }
    if (isPair(node)) {
      stack.push({ node: node.value, exit: false }, { node: node.key, exit: false });
    } else if (isCollection(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) stack.push({ node: node.items[i], exit: false });
    }
  }
  return doc.toJS(options);
}

/** One YAML document's text as plain data: its first syntax error or a cyclic alias throws. */
export function parseYamlData(text: string, options: { maxAliasCount: number }): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  const [error] = doc.errors;
  if (error) throw new Error(`not valid YAML: ${error.message.split('\n')[0]}`);
  return yamlData(doc, options);
}
