import path from 'node:path';

/**
 * `layering/downward-only`: a module under `src/` may import only from its own folder or from a
 * folder in a lower layer. The layer order is the rule's option (eslint.config.js writes it down);
 * a folder missing from it is reported too, so a new folder has to be placed before it is used.
 *
 * A local rule rather than `no-restricted-imports` overrides: it resolves each relative import
 * against the importing file, so sub-folders, `../../` paths and re-exports are judged by where
 * they land, not by how the path is spelled, and its message names the layer order.
 */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'folders under src/ import only from themselves and from lower layers' },
    schema: [
      {
        type: 'object',
        properties: {
          root: { type: 'string' },
          layers: { type: 'array', items: { type: 'array', items: { type: 'string' } } },
        },
        required: ['root', 'layers'],
        additionalProperties: false,
      },
    ],
  },
  create(context) {
    const { root, layers } = context.options[0];
    const levelOf = new Map(layers.flatMap((names, level) => names.map((name) => [name, level])));
    const order = layers.map((names) => names.join(' ')).join(' > ');
    const unitOf = (file) => {
      const rel = path.relative(root, file);
      if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
      return rel.split(path.sep)[0].replace(/\.[cm]?[jt]s$/, '');
    };
    const from = unitOf(context.filename);
    if (from === undefined) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = unitOf(path.resolve(path.dirname(context.filename), source));
      if (to === undefined || to === from) return;
      for (const unit of [from, to]) {
        if (!levelOf.has(unit)) {
          context.report({ node, message: `src/${unit} has no place in the layer order (${order}); add it in eslint.config.js` });
          return;
        }
      }
      const mine = levelOf.get(from);
      const theirs = levelOf.get(to);
      if (theirs > mine) return;
      const where = theirs === mine ? 'on the same layer' : 'above it';
      context.report({ node, message: `${from} may not import from ${to} (${where}); layers import only downward: ${order}` });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default { rules: { 'downward-only': rule } };
