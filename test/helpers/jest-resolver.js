// Jest's resolver with the `import` condition added for ESM-only packages (they export nothing else).
const esmPackages = require('./esm-packages.js');
const pattern = new RegExp(
  `^(${esmPackages.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(/|$)`,
);

module.exports = (request, options) => {
  if (pattern.test(request)) {
    return options.defaultResolver(request, {
      ...options,
      conditions: [...new Set([...(options.conditions ?? ['require', 'default']), 'import'])],
    });
  }
  return options.defaultResolver(request, options);
};
