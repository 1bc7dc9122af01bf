// Summarises a JSON document: its shape (keys and types, to a depth) and sizes.
function shape(value, depth) {
  if (Array.isArray(value)) {
    if (depth === 0 || value.length === 0) return `array(${value.length})`;
    return [`array(${value.length}) of`, shape(value[0], depth - 1)];
  }
  if (value !== null && typeof value === "object") {
    if (depth === 0) return "object";
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = shape(value[key], depth - 1);
    return out;
  }
  return value === null ? "null" : typeof value;
}

async function run(args) {
  const document = typeof args.json === "string" ? JSON.parse(args.json) : args.document;
  const depth = Number.isInteger(args.depth) ? args.depth : 2;
  return { shape: shape(document, depth), bytes: JSON.stringify(document).length };
}
